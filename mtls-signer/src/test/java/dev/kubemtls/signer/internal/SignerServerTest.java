package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.signer.SignerConfig;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The {@code --metrics-address} syntax and precedence. */
class SignerServerTest {

  @Test
  void addressesParse() {
    assertThat(SignerServer.parseAddress(":9090")).contains(new InetSocketAddress(9090));
    assertThat(SignerServer.parseAddress("127.0.0.1:0")).contains(new InetSocketAddress("127.0.0.1", 0));
    assertThat(SignerServer.parseAddress("[::1]:9090")).contains(new InetSocketAddress("::1", 9090));
    assertThat(SignerServer.parseAddress("off")).isEmpty();
  }

  @Test
  void badAddressesNameTheFlag() {
    for (String bad : List.of("9090", "0", ":http", ":70000", ":-1", "")) {
      assertThatThrownBy(() -> SignerServer.parseAddress(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("--metrics-address");
    }
  }

  @Test
  void theFlagWinsOverTheVariableWhichWinsOverTheDefault() {
    Map<String, String> env = Map.of("KUBE_MTLS_METRICS_ADDRESS", "127.0.0.1:8080");
    assertThat(SignerServer.address(List.of(), Map.of())).contains(new InetSocketAddress(9090));
    assertThat(SignerServer.address(List.of(), env)).contains(new InetSocketAddress("127.0.0.1", 8080));
    assertThat(SignerServer.address(List.of("--metrics-address=off"), env)).isEqualTo(Optional.empty());
    assertThat(SignerServer.address(List.of("--metrics-address", ":9999"), env)).contains(new InetSocketAddress(9999));
  }

  @Test
  void signerConfigAcceptsTheFlag() {
    SignerConfig config = SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload",
        "--ca-secret-namespace=kube-mtls", "--identity=a", "--metrics-address=:9091"), Map.of());
    assertThat(config.signerName()).isEqualTo("kube-mtls.dev/workload");
  }

  @Test
  void theProbeAddressIsUnsetByDefaultAndCannotBeOff() {
    assertThat(SignerServer.probeAddress(List.of(), Map.of())).isEmpty();
    assertThat(SignerServer.probeAddress(List.of("--probe-address=:8081"), Map.of()))
        .contains(new InetSocketAddress(8081));
    assertThat(SignerServer.probeAddress(List.of(), Map.of("KUBE_MTLS_PROBE_ADDRESS", "127.0.0.1:8082")))
        .contains(new InetSocketAddress("127.0.0.1", 8082));
    assertThat(SignerServer.probeAddress(List.of("--probe-address", ":8083"),
        Map.of("KUBE_MTLS_PROBE_ADDRESS", "127.0.0.1:8082"))).contains(new InetSocketAddress(8083));
    assertThatThrownBy(() -> SignerServer.probeAddress(List.of("--probe-address=off"), Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--probe-address cannot be off");
    assertThatThrownBy(() -> SignerServer.probeAddress(List.of("--probe-address=8081"), Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--probe-address")
        .hasMessageNotContaining("--metrics-address");
    // SignerConfig accepts the flag (SignerMain reads it).
    SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=kube-mtls",
        "--identity=a", "--probe-address=:8081"), Map.of());
  }
}
