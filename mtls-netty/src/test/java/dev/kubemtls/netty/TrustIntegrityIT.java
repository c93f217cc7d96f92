package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.BundleSignatures;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.signer.internal.TrustBundlePublisher;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.signer.it.ShortLivedSigner.Workload;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The bundle ConfigMap cannot be forged by someone who may write ConfigMaps in the namespace: a
 * namespace editor appends a CA of their own (and later makes a forged copy immutable) while a
 * kube-mtls workload trusting the ConfigMap serves. The workload never trusts the foreign CA, refuses
 * (and counts) a client certificate that CA made with a forged SPIFFE ID, and reports the forged
 * bundle as a rejected trust change; the signer puts its signed bundle back, records a Warning Event
 * on the ConfigMap and counts the repair. Real signer, real control plane with RBAC, real Netty
 * handshakes.
 */
class TrustIntegrityIT {

  private static final int ATTEMPTS = 7;

  private final ControlPlane cp = ControlPlane.shared();
  private final KubernetesClient admin = cp.adminClient();

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void aNamespaceEditorCannotAddATrustedCa() throws Exception {
    try (ShortLivedSigner signer = new ShortLivedSigner("integrity-it", ShortLivedSigner.Trust.CONFIG_MAP)) {
      String ns = signer.namespace("integrity");
      Workload server = signer.workload(ns, "orders");
      Workload client = signer.workload(ns, "checkout");
      KubernetesClient editor = namespaceEditor(ns);
      TestCa foreign = TestCa.create("foreign CA of a namespace editor");
      List<HandshakeRefusal> refusals = new CopyOnWriteArrayList<>();
      EventLoopGroup group = Echo.group(2);
      try (ServerTls serverTls = NettyMtls.forServer(server.mtls()).listener(new TlsListener() {
            @Override
            public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
              refusals.add(new HandshakeRefusal(side, reason));
            }
          }).build();
          ClientTls clientTls = NettyMtls.forClient(client.mtls()).build();
          Echo.Server echo = new Echo.Server(group, serverTls)) {
        X509Certificate signerCa = server.mtls().current().trust().certificates().get(0);
        assertThat(roundTrip(group, clientTls, server, echo)).as("the real client").isEqualTo("hello");
        SslContext forged = forgedClient(foreign, ns, signerCa);

        // 1. The editor appends their CA to the bundle (keeping the signer's signature).
        ConfigMap before = bundle(ns);
        editor.configMaps().inNamespace(ns).withName(KubeMtls.DEFAULT_BUNDLE_CONFIGMAP).edit(cm -> {
          Map<String, String> data = new HashMap<>(cm.getData());
          data.put("ca.crt", data.get("ca.crt") + foreign.certificatePem());
          return new ConfigMapBuilder(cm).withData(data).build();
        });
        for (int i = 0; i < ATTEMPTS; i++) {
          assertThat(forgedRoundTrip(group, forged, server, echo)).as("forged client, attempt %d", i).isNull();
        }
        await("the workload refused the forged bundle").atMost(Duration.ofSeconds(20))
            .until(() -> server.events.trustRejections.stream()
                .anyMatch(p -> p.getMessage().contains("holds no valid signature by a CA this workload already trusts")));
        await("the signer put its bundle back").atMost(Duration.ofSeconds(20))
            .until(() -> bundleIsSignersAgain(ns, before));
        // The signer reports a repair after its write, which this test may see first: wait for the report.
        await("the signer reported the repair").atMost(Duration.ofSeconds(20))
            .until(() -> signer.bundleRepairs.contains(ns + "/" + KubeMtls.DEFAULT_BUNDLE_CONFIGMAP + " "
                + TrustBundlePublisher.FOREIGN_BUNDLE));
        await("a Warning Event on the ConfigMap").atMost(Duration.ofSeconds(20))
            .until(() -> warning(ns, TrustBundlePublisher.FOREIGN_BUNDLE).isPresent());

        // 2. The editor makes a forged copy immutable, so that it could not be updated.
        editor.configMaps().inNamespace(ns).withName(KubeMtls.DEFAULT_BUNDLE_CONFIGMAP).edit(cm -> {
          Map<String, String> data = new HashMap<>(cm.getData());
          data.put("ca.crt", foreign.certificatePem() + data.get("ca.crt"));
          return new ConfigMapBuilder(cm).withData(data).withImmutable(true).build();
        });
        for (int i = 0; i < ATTEMPTS; i++) {
          assertThat(forgedRoundTrip(group, forged, server, echo)).as("forged client, immutable, attempt %d", i)
              .isNull();
        }
        await("the signer replaced the immutable copy").atMost(Duration.ofSeconds(20))
            .until(() -> bundleIsSignersAgain(ns, before) && !Boolean.TRUE.equals(bundle(ns).getImmutable()));
        await("the signer reported replacing the immutable copy").atMost(Duration.ofSeconds(20))
            .until(() -> signer.bundleRepairs.contains(ns + "/" + KubeMtls.DEFAULT_BUNDLE_CONFIGMAP + " "
                + TrustBundlePublisher.IMMUTABLE_BUNDLE));
        await("a Warning Event for the immutable copy").atMost(Duration.ofSeconds(20))
            .until(() -> warning(ns, TrustBundlePublisher.IMMUTABLE_BUNDLE).isPresent());

        // Every forged attempt was refused by the server as an untrusted peer, and counted.
        await("every refusal reported").atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(refusals)
            .as("server-side refusals: %s", refusals).filteredOn(r -> r.reason() == TlsListener.HandshakeFailure.UNTRUSTED_PEER)
            .hasSizeGreaterThanOrEqualTo(2 * ATTEMPTS));
        assertThat(refusals).allSatisfy(r -> assertThat(r.side()).isEqualTo(TlsListener.Side.SERVER));
        // The foreign CA was never part of the workload's trust, and the real client still gets through.
        for (MtlsMaterial m : List.of(server.mtls().current(), client.mtls().current())) {
          assertThat(m.trust().certificates()).doesNotContain(foreign.certificate());
        }
        assertThat(server.events.trustChanges).allSatisfy(
            b -> assertThat(b.certificates()).doesNotContain(foreign.certificate()));
        assertThat(client.events.trustChanges).allSatisfy(
            b -> assertThat(b.certificates()).doesNotContain(foreign.certificate()));
        assertThat(roundTrip(group, clientTls, server, echo)).as("the real client, after").isEqualTo("hello");
      } finally {
        editor.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      }
    }
  }

  private record HandshakeRefusal(TlsListener.Side side, TlsListener.HandshakeFailure reason) {}

  /** One request on a new connection: the echo, or null when the connection was refused. */
  private static String roundTrip(EventLoopGroup group, ClientTls tls, Workload server, Echo.Server echo)
      throws InterruptedException {
    try (Echo.Conn conn = Echo.Conn.open(group, tls, Echo.named(server.serviceHost(), echo.port()))) {
      return conn.request("hello");
    }
  }

  /**
   * A client with a certificate from {@code foreign} naming a real ServiceAccount, trusting the real
   * CA: a plain BoringSSL context that presents its certificate whatever CAs the server names (an
   * attacker's client does not honour the server's list of acceptable issuers).
   */
  private static SslContext forgedClient(TestCa foreign, String ns, X509Certificate signerCa) throws Exception {
    KeyPair key = TestCa.newKeyPair();
    X509Certificate leaf = foreign.leaf(key.getPublic()).spiffe(ns, "checkout").dns("checkout." + ns + ".svc")
        .usages(true, true).build();
    return SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL).keyManager(new AlwaysPresent(key, leaf))
        .trustManager(signerCa).endpointIdentificationAlgorithm("HTTPS").build();
  }

  /** A key manager that offers its one certificate to every server, whichever issuers it asks for. */
  private static final class AlwaysPresent extends javax.net.ssl.X509ExtendedKeyManager {
    private final KeyPair key;
    private final X509Certificate leaf;

    AlwaysPresent(KeyPair key, X509Certificate leaf) {
      this.key = key;
      this.leaf = leaf;
    }

    @Override
    public String[] getClientAliases(String keyType, java.security.Principal[] issuers) {
      return new String[] {"forged"};
    }

    @Override
    public String chooseClientAlias(String[] keyType, java.security.Principal[] issuers, java.net.Socket socket) {
      return "forged";
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, java.security.Principal[] issuers,
        javax.net.ssl.SSLEngine engine) {
      return "forged";
    }

    @Override
    public String[] getServerAliases(String keyType, java.security.Principal[] issuers) {
      return new String[0];
    }

    @Override
    public String chooseServerAlias(String keyType, java.security.Principal[] issuers, java.net.Socket socket) {
      return null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return new X509Certificate[] {leaf};
    }

    @Override
    public java.security.PrivateKey getPrivateKey(String alias) {
      return key.getPrivate();
    }
  }

  /** One request on a new connection of the forged client: the echo, or null when it was refused. */
  private static String forgedRoundTrip(EventLoopGroup group, SslContext forged, Workload server, Echo.Server echo)
      throws InterruptedException {
    try (Echo.Conn conn = Echo.Conn.open(group, Echo.named(server.serviceHost(), echo.port()),
        ch -> forged.newHandler(ch.alloc(), server.serviceHost(), echo.port()))) {
      return conn.request("hello");
    }
  }

  /** A ServiceAccount that may do anything with ConfigMaps in {@code ns}, as a namespace editor may. */
  private KubernetesClient namespaceEditor(String ns) {
    admin.rbac().roles().inNamespace(ns).resource(new RoleBuilder().withNewMetadata().withName("configmap-editor")
        .endMetadata().withRules(new PolicyRuleBuilder().withApiGroups("").withResources("configmaps")
            .withVerbs("get", "list", "watch", "create", "update", "patch", "delete").build()).build()).create();
    admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("configmap-editor").endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("Role").withName("configmap-editor").endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("editor").withNamespace(ns).endSubject().build()).create();
    KubernetesClient editor = cp.clientFor(ns, "editor");
    await("the editor may update ConfigMaps").atMost(Duration.ofSeconds(10)).until(() -> editor.authorization().v1()
        .selfSubjectAccessReview().create(new io.fabric8.kubernetes.api.model.authorization.v1
            .SelfSubjectAccessReviewBuilder().withNewSpec().withNewResourceAttributes().withNamespace(ns)
            .withVerb("update").withResource("configmaps").endResourceAttributes().endSpec().build())
        .getStatus().getAllowed());
    return editor;
  }

  private ConfigMap bundle(String ns) {
    return admin.configMaps().inNamespace(ns).withName(KubeMtls.DEFAULT_BUNDLE_CONFIGMAP).get();
  }

  /** The ConfigMap holds the bundle the signer published before the forgery (signed, verifiable). */
  private boolean bundleIsSignersAgain(String ns, ConfigMap before) {
    ConfigMap now = bundle(ns);
    if (now == null || now.getData() == null) {
      return false;
    }
    String pem = now.getData().get("ca.crt");
    if (pem == null || !pem.equals(before.getData().get("ca.crt"))) {
      return false;
    }
    List<X509Certificate> cas = Pem.certificates(pem, "bundle");
    BundleSignatures.verify(pem, now.getData().get("ca.crt.sig"), cas, "the repaired signature");
    return true;
  }

  private Optional<Event> warning(String ns, String reason) {
    return admin.v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> "Warning".equals(e.getType()) && reason.equals(e.getReason())
            && KubeMtls.DEFAULT_BUNDLE_CONFIGMAP.equals(e.getInvolvedObject().getName()))
        .findFirst();
  }
}
