package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;

/**
 * The signer on the real control plane, set up once per test JVM as an operator would: the RBAC from
 * {@code deploy/}, the CA Secret, and signer replicas acting with their own ServiceAccount token,
 * publishing the ClusterTrustBundle as well as the ConfigMaps, and serving PodCertificateRequests.
 */
final class SignerFixture {

  static final String SIGNER_NAME = "kube-mtls.dev/workload";
  static final String SIGNER_NS = "kube-mtls";
  static final String BUNDLE = "kube-mtls-ca-bundle";
  static final String OPT_IN = "kube-mtls.dev/inject-bundle";
  static final List<String> SERVER_CLIENT = List.of("digital signature", "server auth", "client auth");

  private static SignerFixture instance;
  private static final AtomicInteger REPLICAS = new AtomicInteger();
  private static final AtomicInteger POD_IPS = new AtomicInteger(10);

  final ControlPlane cp;
  final KubernetesClient admin;
  final CertificateAuthority ca;
  /** Every certificate issued, by CSR name, across replicas. */
  final Map<String, List<X509Certificate>> issued = new ConcurrentHashMap<>();
  final List<Signer> replicas = new CopyOnWriteArrayList<>();
  /** The meters every replica reports to (only the leader acts). */
  final io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
      new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
  final SignerMetrics metrics = new SignerMetrics(registry);

  private SignerFixture() {
    cp = ControlPlane.shared();
    admin = cp.adminClient();
    if (admin.namespaces().withName(SIGNER_NS).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(SIGNER_NS).endMetadata()
          .build()).create();
    }
    apply(Path.of("deploy", "signer-rbac.yaml"));
    apply(Path.of("deploy", "workload-rbac.yaml"));
    ca = CertificateAuthority.generate("kube-mtls IT CA", Duration.ofDays(30), ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(SIGNER_NS).resource(new SecretBuilder().withNewMetadata().withName("kube-mtls-ca")
        .endMetadata().withType("kubernetes.io/tls")
        .addToData("tls.crt", b64(ca.certificatePem())).addToData("tls.key", b64(ca.privateKeyPem())).build())
        .forceConflicts().serverSideApply();
  }

  static synchronized SignerFixture get() {
    if (instance == null) {
      instance = new SignerFixture();
      instance.startReplica();
    }
    return instance;
  }

  /** Starts a signer replica acting as the signer's ServiceAccount, loading the CA from its Secret. */
  Signer startReplica() {
    KubernetesClient client = cp.clientFor(SIGNER_NS, "kube-mtls-signer");
    SignerConfig config = SignerConfig.builder(SIGNER_NAME)
        .caSecret(SIGNER_NS, "kube-mtls-ca")
        .validity(Duration.ofMinutes(1), Duration.ofHours(1), Duration.ofMinutes(5))
        .lease(SIGNER_NS, "kube-mtls-signer", "replica-" + REPLICAS.incrementAndGet())
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .clusterTrustBundle(true)
        .podCertificates(true)
        .build();
    CertificateAuthority loaded = CertificateAuthority.fromSecret(
        client.secrets().inNamespace(SIGNER_NS).withName("kube-mtls-ca").get(), ValidityPolicy.of(config),
        InstantSource.system(), new SecureRandom());
    Signer signer = Signer.start(client, config, loaded, InstantSource.system(), SignerListener.all(new SignerListener() {
      @Override
      public void issued(String csrName, X509Certificate certificate) {
        issued.computeIfAbsent(csrName, k -> new CopyOnWriteArrayList<>()).add(certificate);
      }
    }, metrics));
    replicas.add(signer);
    return signer;
  }

  /** The replica that leads, once one does. */
  Signer awaitLeader() {
    return Awaitility.await("a signer leader").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
        .until(() -> replicas.stream().filter(Signer::isLeader).findFirst().orElse(null), s -> s != null);
  }

  /** A namespace that opts in to the bundle, with Pod web-0 (SA web, app=web) and Service web selecting it. */
  Workload workload(String prefix) {
    String ns = cp.createNamespace(prefix, Map.of(OPT_IN, "true"));
    String ip = "10.77." + (POD_IPS.incrementAndGet() / 250) + "." + (POD_IPS.get() % 250 + 1);
    Pod pod = cp.createPod(ns, "web-0", "web", Map.of("app", "web"), ip);
    admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
        .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    bindWorkload(ns, "web");
    return new Workload(ns, pod, ip, cp.clientFor(ns, "web", pod));
  }

  void bindWorkload(String ns, String sa) {
    dev.kubemtls.signer.it.ShortLivedSigner.bindWorkload(admin, ns, sa);
  }

  /** A workload namespace and its bound client. */
  record Workload(String namespace, Pod pod, String podIp, KubernetesClient client) {
    String spiffeId() {
      return "spiffe://cluster.local/ns/" + namespace + "/sa/web";
    }
  }

  static String createCsr(KubernetesClient client, String signerName, String pem, List<String> usages) {
    CertificateSigningRequest csr = new CertificateSigningRequestBuilder().withNewMetadata()
        .withGenerateName("kube-mtls-it-").endMetadata().withNewSpec().withSignerName(signerName)
        .withRequest(b64(pem)).withUsages(usages).withExpirationSeconds(600).endSpec().build();
    return client.certificates().v1().certificateSigningRequests().resource(csr).create().getMetadata().getName();
  }

  /** Waits until the CSR is issued, denied or failed, and returns it. */
  CertificateSigningRequest awaitFinal(String name) {
    return Awaitility.await("CSR " + name + " to be issued, denied or failed").atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(50))
        .until(() -> admin.certificates().v1().certificateSigningRequests().withName(name).get(),
            c -> c != null && c.getStatus() != null && ((c.getStatus().getCertificate() != null
                && !c.getStatus().getCertificate().isEmpty()) || c.getStatus().getConditions().stream()
                .anyMatch(k -> k.getType().equals("Denied") || k.getType().equals("Failed"))));
  }

  static X509Certificate certificateOf(CertificateSigningRequest csr) {
    String pem = new String(Base64.getDecoder().decode(csr.getStatus().getCertificate()), StandardCharsets.US_ASCII);
    return Pem.certificates(pem, "status.certificate").get(0);
  }

  /** Validates {@code leaf} with PKIX against the PEM bundle. */
  static void validate(X509Certificate leaf, String bundlePem) throws Exception {
    Set<TrustAnchor> anchors = new HashSet<>();
    for (X509Certificate c : Pem.certificates(bundlePem, "bundle")) {
      anchors.add(new TrustAnchor(c, null));
    }
    PKIXParameters params = new PKIXParameters(anchors);
    params.setRevocationEnabled(false);
    CertPathValidator.getInstance("PKIX").validate(
        CertificateFactory.getInstance("X.509").generateCertPath(new ArrayList<>(List.of(leaf))), params);
  }

  static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
  }

  private void apply(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      for (HasMetadata item : admin.load(in).items()) {
        admin.resource(item).forceConflicts().serverSideApply();
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
