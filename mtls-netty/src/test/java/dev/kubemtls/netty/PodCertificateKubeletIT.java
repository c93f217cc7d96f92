package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.files.FileMaterialSource;
import dev.kubemtls.core.files.FileTrustSource;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.PodCertificateRequests;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.TestCsr;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.HollowNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The pod-certificate path end to end with a real kubelet: our signer ({@code --pod-certificates=true})
 * on the real control plane, and a hollow kubelet ({@link HollowNode}: kubemark's kubelet of the same
 * release, with the {@code PodCertificateRequest} gate before 1.37, authenticating as
 * {@code system:node:<name>}) to which a Pod
 * with a {@code podCertificate} projected volume (our signer, {@code ECDSAP256}, a credential bundle)
 * and the signer's CA bundle ConfigMap is bound. The kubelet generates the key, creates the
 * PodCertificateRequest as the node (in {@code certificates.k8s.io/v1} with a stub PKCS#10 request on
 * 1.37, in {@code v1beta1} with the PKIX key and proof of possession on 1.35, with a stub request on
 * 1.36), our signer issues it, and the kubelet writes the volume with its
 * atomic writer. {@link FileMaterialSource#forCredentialBundle} reads the file the kubelet wrote, with
 * {@link FileTrustSource} on the bundle file beside it, and feeds a Netty {@link ServerTls}; a client
 * holding a certificate from the same CA completes a mutual handshake and a request, and each side
 * sees the other's SPIFFE ID (the server's being the Pod's ServiceAccount's).
 *
 * <p>Renewals are not exercised here: the kubelet refreshes at {@code beginRefreshAt}, which the API
 * server puts at least 10 minutes after {@code notBefore} (our signer picks 70-90 % of the 1-hour
 * minimum lifetime), and the kubelet's clock cannot be moved from outside. Renewals and a CA rotation
 * on the kubelet's file layout are covered by {@link PodCertificateFilesTest}.
 */
class PodCertificateKubeletIT {

  private static final String VOLUME = "mtls";
  private static final Duration WAIT = Duration.ofMinutes(2);

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void theKubeletWritesTheCertificateOurSignerIssuedAndNettyServesWithIt() throws Exception {
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String id = "kubelet-pc-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0xffff));
    String signerName = "kube-mtls-it.dev/" + id;
    String optIn = "kube-mtls-it.dev/" + id;
    String caNamespace = cp.createNamespace(id + "-signer");
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls " + id + " CA", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(caNamespace).resource(ca.toSecret(caNamespace, "it-ca")).create();
    SignerConfig config = SignerConfig.builder(signerName)
        .caSecret(caNamespace, "it-ca")
        .namespaceLabel(optIn + "=true")
        .validity(Duration.ofMinutes(10), Duration.ofHours(1), Duration.ofMinutes(1))
        .lease(caNamespace, "it-signer", id + "-0")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .podCertificates(true)
        .build();

    String ns = cp.createNamespace(id, Map.of(optIn, "true"));
    cp.ensureServiceAccount(ns, "orders");
    admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("orders").endMetadata()
        .withNewSpec().addToSelector("app", "orders").addNewPort().withPort(443).endPort().endSpec().build()).create();
    String serverSpiffe = "spiffe://cluster.local/ns/" + ns + "/sa/orders";
    String clientSpiffe = "spiffe://cluster.local/ns/" + ns + "/sa/checkout";
    String serviceHost = "orders." + ns + ".svc";

    ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
    EventLoopGroup group = Echo.group(2);
    try (Signer signer = Signer.start(admin, config, ca, InstantSource.system());
        HollowNode node = HollowNode.start(cp, "hollow-" + id)) {
      Awaitility.await("signer " + signerName + " to lead").atMost(WAIT).until(signer::isLeader);
      // The trust half of the volume: the bundle ConfigMap our signer publishes into opted-in namespaces.
      ConfigMap bundle = Awaitility.await("the CA bundle ConfigMap in " + ns).atMost(WAIT)
          .until(() -> admin.configMaps().inNamespace(ns).withName("kube-mtls-ca-bundle").get(), c -> c != null);
      assertThat(bundle.getData().get("ca.crt")).contains(ca.certificatePem().strip());

      Pod pod = admin.pods().inNamespace(ns).resource(new PodBuilder()
          .withNewMetadata().withName("orders-0").addToLabels("app", "orders").endMetadata()
          .withNewSpec().withServiceAccountName("orders").withAutomountServiceAccountToken(false)
          .withNodeName(node.name())
          .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/orders:test")
          .addNewVolumeMount().withName(VOLUME).withMountPath("/var/run/kube-mtls").withReadOnly(true)
          .endVolumeMount().endContainer()
          .addNewVolume().withName(VOLUME).withNewProjected()
          .addNewSource().withNewPodCertificate().withSignerName(signerName).withKeyType("ECDSAP256")
          .withCredentialBundlePath("credentialbundle.pem").endPodCertificate().endSource()
          .addNewSource().withNewConfigMap().withName("kube-mtls-ca-bundle")
          .addNewItem().withKey("ca.crt").withPath("ca.crt").endItem().endConfigMap().endSource()
          .endProjected().endVolume()
          .endSpec().build()).create();
      String podUid = pod.getMetadata().getUid();

      // The kubelet asked, as the node, in the version the release serves, and our signer issued.
      String version = PodCertificateRequests.version(admin);
      assertThat(version).isEqualTo(ControlPlane.kubernetesMinor() >= 37 ? "v1" : "v1beta1");
      GenericKubernetesResource pcr = Awaitility.await("the kubelet's PodCertificateRequest to be issued")
          .atMost(WAIT).pollInterval(Duration.ofMillis(250))
          .until(() -> PodCertificateRequests.api(admin, version).inNamespace(ns).list().getItems().stream()
              .filter(r -> !PodCertificateRequests.conditions(r).isEmpty()).findFirst(), Optional::isPresent)
          .orElseThrow();
      assertThat(PodCertificateRequests.conditions(pcr)).as("the kubelet's request: %s", pcr).singleElement()
          .satisfies(c -> {
            assertThat(c.getType()).as(c.getReason() + ": " + c.getMessage()).isEqualTo("Issued");
            assertThat(c.getStatus()).isEqualTo("True");
          });
      assertThat(PodCertificateRequests.spec(pcr, "nodeName")).isEqualTo(node.name());
      assertThat(PodCertificateRequests.spec(pcr, "podUID")).isEqualTo(podUid);
      assertThat(PodCertificateRequests.spec(pcr, "signerName")).isEqualTo(signerName);
      // The key in the form the release's kubelet sends it.
      if (PodCertificateRequests.stubForm(ControlPlane.kubernetesMinor())) {
        assertThat(PodCertificateRequests.spec(pcr, "stubPKCS10Request")).isNotEmpty();
        assertThat(PodCertificateRequests.spec(pcr, "pkixPublicKey")).isNull();
      } else {
        assertThat(PodCertificateRequests.spec(pcr, "pkixPublicKey")).isNotEmpty();
      }
      X509Certificate issuedLeaf = firstCertificate(PodCertificateRequests.status(pcr, "certificateChain"));

      // The kubelet wrote both files into the volume with its atomic writer (..data symlink to a timestamped dir).
      Path volume = node.projectedVolume(podUid, VOLUME);
      Path credentials = volume.resolve("credentialbundle.pem");
      Path caFile = volume.resolve("ca.crt");
      Awaitility.await("the kubelet to write " + credentials).atMost(WAIT).pollInterval(Duration.ofMillis(250))
          .until(() -> Files.exists(credentials) && Files.exists(caFile));
      assertThat(Files.isSymbolicLink(volume.resolve("..data"))).as("the atomic writer's ..data link").isTrue();
      assertThat(Files.isSymbolicLink(credentials)).isTrue();
      String written = Files.readString(credentials, StandardCharsets.US_ASCII);
      assertThat(written).startsWith("-----BEGIN PRIVATE KEY-----");
      assertThat(written.split("-----BEGIN CERTIFICATE-----", -1)).as("key, leaf and CA").hasSize(3);

      FileTrustSource trust = FileTrustSource.of(caFile, InstantSource.system(), scheduler, Duration.ofMillis(200));
      FileMaterialSource serverSource = FileMaterialSource.forCredentialBundle(credentials)
          .trust(trust).scheduler(scheduler).pollInterval(Duration.ofMillis(200)).build();
      try {
        trust.start();
        MtlsMaterial material = serverSource.start().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        X509Certificate served = material.identity().leaf();
        assertThat(served).isEqualTo(issuedLeaf);
        served.verify(ca.certificate().getPublicKey());
        assertThat(material.trust().certificates()).contains(ca.certificate());
        assertThat(uris(served)).containsExactly(serverSpiffe);
        assertThat(Duration.between(served.getNotBefore().toInstant(), served.getNotAfter().toInstant()))
            .isLessThanOrEqualTo(Duration.ofHours(1).plusMinutes(1));

        // A client with a certificate from the same CA (issued from a CSR by the same CertificateAuthority).
        KeyPair clientKey = TestCsr.ecKey();
        X509Certificate clientLeaf = ca.sign(TestCsr.builder().key(clientKey).uri(clientSpiffe).pem(),
            List.of("digital signature", "client auth"), 3600);
        MaterialPublisher clientSource = new MaterialPublisher(new MtlsMaterial(
            new TlsIdentity(clientKey.getPrivate(), List.of(clientLeaf, ca.certificate()), 1),
            new TrustBundle(List.of(ca.certificate()), "it-ca"), 1));

        try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
            ClientTls clientTls = NettyMtls.forClient(clientSource).build();
            Echo.Server echo = new Echo.Server(group, serverTls);
            Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named(serviceHost, echo.port()))) {
          assertThat(conn.request("hello from checkout")).isEqualTo("hello from checkout");
          assertThat(conn.serverLeaf()).isEqualTo(issuedLeaf);
          PeerIdentity serverSeenByClient = conn.peer().getNow();
          assertThat(serverSeenByClient.spiffeId()).contains(serverSpiffe);
          assertThat(serverSeenByClient.dnsNames()).contains(serviceHost);
          Future<PeerIdentity> clientSeenByServer = echo.nextPeer();
          assertThat(clientSeenByServer.isSuccess()).as("server side: %s", clientSeenByServer.cause()).isTrue();
          assertThat(clientSeenByServer.getNow().spiffeId()).contains(clientSpiffe);
        }
      } finally {
        serverSource.close();
        trust.close();
      }
    } finally {
      scheduler.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private static X509Certificate firstCertificate(String pem) throws Exception {
    return (X509Certificate) CertificateFactory.getInstance("X.509")
        .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII))).iterator().next();
  }

  private static List<String> uris(X509Certificate c) throws Exception {
    return c.getSubjectAlternativeNames().stream().filter(n -> (Integer) n.get(0) == 6)
        .map(n -> (String) n.get(1)).toList();
  }
}
