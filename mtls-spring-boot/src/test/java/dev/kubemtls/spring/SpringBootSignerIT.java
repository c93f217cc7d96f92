package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.spring.internal.MtlsSslBundleRegistrar;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * On the real control plane: a Spring Boot application configured by properties alone (signer
 * name, services, a kubeconfig with a ServiceAccount token bound to its Pod, and the downward-API
 * variables) obtains its certificate through the kube-mtls signer, serves mTLS with it on Tomcat,
 * and serves the renewed certificate on new connections after the signer's 20-second certificates
 * are renewed.
 */
class SpringBootSignerIT {

  @Configuration(proxyBeanMethods = false)
  static class Tomcat {
    @Bean
    TomcatServletWebServerFactory tomcat() {
      return new TomcatServletWebServerFactory();
    }

    /** The application's registry: the starter binds mtls-micrometer's meters to it. */
    @Bean
    io.micrometer.core.instrument.MeterRegistry registry() {
      return new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    }

    /** An application's listener bean: the in-pod identity reports to it. */
    @Bean
    ManagerListener rotations() {
      return new ManagerListener() {
        @Override
        public void rotated(MtlsMaterial previous, MtlsMaterial current) {
          ROTATIONS.incrementAndGet();
        }
      };
    }
  }

  static final java.util.concurrent.atomic.AtomicInteger ROTATIONS = new java.util.concurrent.atomic.AtomicInteger();

  static ShortLivedSigner signer;
  static ConfigurableApplicationContext context;
  static String namespace;
  /** A loopback address as the pod IP, so the server listens on the address its certificate names. */
  static String podIp = "127.0.0.47";

  @BeforeAll
  static void start() throws Exception {
    signer = new ShortLivedSigner("spring-boot");
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    namespace = signer.namespace("spring-boot");
    Pod pod = cp.createPod(namespace, "web-0", "web", Map.of("app", "web"), podIp);
    admin.services().inNamespace(namespace).resource(new ServiceBuilder().withNewMetadata().withName("web")
        .endMetadata().withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec()
        .build()).create();
    ShortLivedSigner.bindWorkload(admin, namespace, "web");
    Path kubeconfig = cp.writeKubeconfigFor(namespace, "web", pod, Duration.ofHours(1));
    Path noServiceAccountMount = Files.createTempDirectory("no-sa-mount");
    context = new SpringApplicationBuilder(Tomcat.class, ServletEndpoints.class)
        .web(WebApplicationType.SERVLET)
        .properties(
            "kube-mtls.signer-name=" + signer.signerName(),
            "kube-mtls.services=web",
            "kube-mtls.lifetime=10m",
            "kube-mtls.startup-timeout=60s",
            "kube-mtls.kubeconfig-file=" + kubeconfig,
            "kube-mtls.service-account-dir=" + noServiceAccountMount,
            "kube-mtls.peer.allowed-namespaces=" + namespace,
            // What the downward API sets in a pod.
            "POD_NAMESPACE=" + namespace,
            "SERVICE_ACCOUNT=web",
            "POD_NAME=web-0",
            "POD_IP=" + podIp,
            "server.ssl.bundle=kube-mtls",
            "server.port=0",
            "server.address=" + podIp,
            "spring.main.banner-mode=off")
        .run();
  }

  @AfterAll
  static void stop() throws Exception {
    if (context != null) {
      context.close();
    }
    if (signer != null) {
      signer.close();
    }
  }

  @Test
  void theAutoConfigurationGetsItsCertificateThroughTheSignerAndServesItRenewed() throws Exception {
    MaterialSource source = context.getBean(MaterialSource.class);
    assertThat(source).isInstanceOf(KubeMtls.class);
    // Every certificate the source has held since now: the signer's certificates live 20 s, so one
    // may be renewed between reading the source and a handshake; a connection presents one of these.
    java.util.Set<BigInteger> held = java.util.concurrent.ConcurrentHashMap.newKeySet();
    MaterialSource.Subscription following = source.subscribe(m -> held.add(m.identity().leaf().getSerialNumber()));
    MtlsMaterial first = source.current();
    held.add(first.identity().leaf().getSerialNumber());
    X509Certificate leaf = first.identity().leaf();
    assertThat(leaf.getSubjectAlternativeNames().stream().map(san -> String.valueOf(san.get(1))).toList())
        .contains("spiffe://cluster.local/ns/" + namespace + "/sa/web", "web." + namespace + ".svc", podIp);
    assertThat(first.trust().certificates()).anySatisfy(ca ->
        assertThat(ShortLivedSigner.issuedBy(first, ca)).isTrue());
    assertThat(first.trust().certificates().get(0).getSubjectX500Principal().getName())
        .contains("kube-mtls spring-boot CA");

    int port = ((WebServerApplicationContext) context).getWebServer().getPort();
    // The application calls itself with its own identity, at its pod IP (which its certificate names).
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .sslContext(MtlsSslContexts.following(source)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create("https://" + podIp + ":" + port + "/whoami")).build();
    HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).startsWith("spiffe://cluster.local/ns/" + namespace + "/sa/web ");
    BigInteger firstSerial = leaf.getSerialNumber();
    // The first certificate, or (if the manager renewed it meanwhile) its renewal.
    assertThat(((X509Certificate) r.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber())
        .isIn(held);
    assertThat(new BigInteger(r.body().substring(r.body().lastIndexOf(' ') + 1), 16)).isIn(held);

    // The signer's certificates live 20 s: the manager renews, the bundle follows, Tomcat reloads.
    MtlsSslBundleRegistrar registrar = context.getBean(MtlsSslBundleRegistrar.class);
    Awaitility.await("a renewed certificate in the bundle").atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(200))
        .until(() -> !source.current().identity().leaf().getSerialNumber().equals(firstSerial)
            && registrar.registeredGeneration() >= source.current().generation());
    BigInteger renewed = source.current().identity().leaf().getSerialNumber();
    assertThat(ROTATIONS.get()).as("rotations the application's ManagerListener bean heard").isGreaterThanOrEqualTo(1);
    // The metrics binding heard the same issuances through the starter's wiring (the first and the renewal).
    io.micrometer.core.instrument.MeterRegistry registry = context.getBean(io.micrometer.core.instrument.MeterRegistry.class);
    Awaitility.await("renewals counted").atMost(Duration.ofSeconds(10)).untilAsserted(() ->
        assertThat(registry.get("kubemtls.certificate.renewals").tag("outcome", "issued").counter().count())
            .isGreaterThanOrEqualTo(2.0));
    assertThat(registry.get("kubemtls.certificate.expiry").gauge().value()).isPositive();
    HttpResponse<String> again = client.send(request, HttpResponse.BodyHandlers.ofString());
    following.close();
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.body()).startsWith("spiffe://cluster.local/ns/" + namespace + "/sa/web ");
    // A connection made now presents a renewal on both sides: the one read above or, if the manager
    // renewed again meanwhile (20 s certificates), a later one; never the first.
    BigInteger callerSerial = new BigInteger(again.body().substring(again.body().lastIndexOf(' ') + 1), 16);
    BigInteger serverSerial = ((X509Certificate) again.sslSession().orElseThrow().getPeerCertificates()[0])
        .getSerialNumber();
    assertThat(java.util.List.of(callerSerial, serverSerial)).as("renewed " + renewed.toString(16) + ", first " + firstSerial.toString(16))
        .doesNotContain(firstSerial).allMatch(held::contains);
  }
}
