package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.net.ServerSocket;
import java.util.function.UnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's made-up requests go through the controller's own code (decode, policy, sign, write
 * bodies) and must be approved and signed under every shape of configuration, or the warm-up would
 * throw; its count comes from a system property that is checked like any configuration value.
 */
class WarmUpTest {

  private static SignerConfig config(UnaryOperator<SignerConfig.Builder> shape) {
    return shape.apply(SignerConfig.builder("kube-mtls.dev/warm-up-test")).build();
  }

  @Test
  void theCountIsAWholeNumberWithinBounds() {
    assertThat(WarmUp.requests(null)).isEqualTo(WarmUp.DEFAULT_REQUESTS);
    assertThat(WarmUp.requests(" ")).isEqualTo(WarmUp.DEFAULT_REQUESTS);
    assertThat(WarmUp.requests("0")).isZero();
    assertThat(WarmUp.requests(" 25 ")).isEqualTo(25);
    assertThat(WarmUp.requests("10000")).isEqualTo(WarmUp.MAX_REQUESTS);
    for (String bad : new String[] {"-1", "10001", "ten", "3.5"}) {
      assertThatThrownBy(() -> WarmUp.requests(bad)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(WarmUp.PROPERTY);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"defaults", "loose", "domains", "bare", "fewNames", "fiveNames", "longLifetimes"})
  void everyMadeUpRequestIsApprovedAndSigned(String shape) {
    SignerConfig config = config(switch (shape) {
      case "defaults" -> b -> b;
      case "loose" -> b -> b.policy(SignerConfig.PolicyMode.LOOSE);
      case "domains" -> b -> b.trustDomain("example.org").clusterDomain("corp.internal");
      case "bare" -> b -> b.bareServiceNames(true);
      case "fewNames" -> b -> b.maxNames(1);
      case "fiveNames" -> b -> b.maxNames(5);
      case "longLifetimes" -> b -> b.validity(java.time.Duration.ofHours(12), java.time.Duration.ofDays(30),
          java.time.Duration.ofMinutes(5));
      default -> throw new IllegalArgumentException(shape);
    });
    assertThat(WarmUp.rehearse(config, new KubernetesSerialization(), 12)).isEqualTo(12);
  }

  @Test
  void anApiServerThatDoesNotAnswerEndsTheTransportPartAtOnce() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    try (KubernetesClient client = new KubernetesClientBuilder().withConfig(new ConfigBuilder()
        .withMasterUrl("https://127.0.0.1:" + closedPort).withTrustCerts(true).withRequestTimeout(2_000)
        .withRequestRetryBackoffLimit(0).build()).build()) {
      WarmUp.Result result = WarmUp.run(config(b -> b), client, 50);
      assertThat(result.requests()).isEqualTo(50);
      assertThat(result.answers()).isZero();
      assertThatThrownBy(() -> WarmUp.run(config(b -> b), client, -1)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> WarmUp.run(config(b -> b), client, WarmUp.MAX_REQUESTS + 1))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }
}
