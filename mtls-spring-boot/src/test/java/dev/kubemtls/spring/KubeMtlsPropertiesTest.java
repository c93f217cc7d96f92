package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerIdentity;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** The {@code kube-mtls.*} checks at startup, on a context without a web server. */
class KubeMtlsPropertiesTest {

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(KubeMtlsAutoConfiguration.class));

  @Test
  void wrongValuesStopTheApplicationNamingEachPropertyAndWhatItExpects() {
    runner.withPropertyValues(
            "kube-mtls.signer-name=kubernetes.io/kube-apiserver-client",
            "kube-mtls.services=Orders",
            "kube-mtls.key-algorithm=dsa",
            "kube-mtls.lifetime=5m",
            "kube-mtls.peer.allowed-service-accounts=shop",
            "kube-mtls.peer.allowed-spiffe-ids=https://example.com/x")
        .run(context -> {
          assertThat(context).hasFailed();
          String message = allMessages(context.getStartupFailure());
          assertThat(message)
              .contains("signerName").contains("kubernetes.io")
              .contains("'Orders' is not a Service name")
              .contains("unknown key algorithm 'dsa': use ec-p256 (default), ec-p384, rsa-2048 or rsa-3072")
              .contains("lifetime").contains("must be at least 10m")
              .contains("'shop' is not namespace/serviceAccount")
              .contains("'https://example.com/x' is not a SPIFFE ID");
        });
  }

  @Test
  void withoutASignerNameOrASourceOfItsOwnTheApplicationSaysWhatToSet() {
    runner.withPropertyValues("kube-mtls.services=orders").run(context -> {
      assertThat(context).hasFailed();
      assertThat(allMessages(context.getStartupFailure()))
          .contains("kube-mtls.signer-name is not set");
    });
  }

  @Test
  void anApplicationsOwnMaterialSourceReplacesTheInPodIdentityAndThePolicyComesFromProperties() {
    MaterialPublisher own = new MtlsApp().server;
    runner.withBean(MaterialSource.class, () -> own)
        .withPropertyValues("kube-mtls.peer.allowed-service-accounts=shop/frontend",
            "kube-mtls.peer.allowed-namespaces=billing")
        .run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(context.getBean(MaterialSource.class)).isSameAs(own);
          assertThat(context).doesNotHaveBean(dev.kubemtls.kubernetes.KubeMtls.class);
          KubeMtlsProperties p = context.getBean(KubeMtlsProperties.class);
          assertThat(p.getBundle()).isEqualTo("kube-mtls");
          PeerIdentity frontend = new PeerIdentity(Optional.of("spiffe://cluster.local/ns/shop/sa/frontend"),
              List.of(), List.of(), "CN=frontend");
          PeerIdentity other = new PeerIdentity(Optional.of("spiffe://cluster.local/ns/shop/sa/other"),
              List.of(), List.of(), "CN=other");
          PeerIdentity billing = new PeerIdentity(Optional.of("spiffe://cluster.local/ns/billing/sa/any"),
              List.of(), List.of(), "CN=any");
          assertThat(p.peerPolicy().denialReason(frontend)).isEmpty();
          assertThat(p.peerPolicy().denialReason(billing)).isEmpty();
          assertThat(p.peerPolicy().denialReason(other)).isPresent();
        });
  }

  @Test
  void theInPodIdentityUsesTheGivenKubeconfigAndThePodEnvironmentFromProperties(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path kubeconfig = dir.resolve("kubeconfig");
    java.nio.file.Files.writeString(kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        + "    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n"
        + "    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n");
    runner.withPropertyValues("kube-mtls.signer-name=kube-mtls.dev/workload", "kube-mtls.services=orders",
            "kube-mtls.kubeconfig-file=" + kubeconfig, "kube-mtls.service-account-dir=" + dir,
            "POD_NAMESPACE=shop", "SERVICE_ACCOUNT=orders", "POD_NAME=orders-0", "POD_IP=10.1.2.3")
        .run(context -> {
          assertThat(context).hasNotFailed();
          assertThat(context.getBean(io.fabric8.kubernetes.client.KubernetesClient.class).getMasterUrl().toString())
              .startsWith("https://127.0.0.1:1");
          dev.kubemtls.kubernetes.KubeMtls tls = context.getBean(dev.kubemtls.kubernetes.KubeMtls.class);
          assertThat(tls.identity().spiffeId().toString()).isEqualTo("spiffe://cluster.local/ns/shop/sa/orders");
          assertThat(tls.identity().dnsNames()).contains("orders.shop.svc");
          assertThat(tls.identity().ipAddresses()).extracting(java.net.InetAddress::getHostAddress).contains("10.1.2.3");
        });
  }

  private static String allMessages(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      b.append(c.getMessage()).append('\n');
    }
    return b.toString();
  }
}
