package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TrustBundle;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrustBundlesTest {

  private static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
  private final MutableClock clock = new MutableClock(NOW);

  private static ConfigMap configMap(Map<String, String> data) {
    return new ConfigMapBuilder().withNewMetadata().withNamespace("apps").withName("kube-mtls-ca")
        .withResourceVersion("42").endMetadata().withData(data).build();
  }

  private static TestCa ca(String name) {
    return TestCa.create(name, NOW.minus(Duration.ofDays(1)), Duration.ofDays(365));
  }

  @Test
  void readsEveryCaWithTheSourceVersion() {
    TestCa a = ca("old");
    TestCa b = ca("new");
    TrustBundle bundle = TrustBundles.fromConfigMap(
        configMap(Map.of("ca.crt", a.certificatePem() + b.certificatePem())), "ca.crt", clock);
    assertThat(bundle.certificates()).containsExactly(a.certificate(), b.certificate());
    assertThat(bundle.sourceVersion()).isEqualTo("apps/kube-mtls-ca@42");
  }

  @Test
  void rejectsALeafCertificate() {
    TestCa a = ca("root");
    String leaf = TestCa.toPem(a.leaf(TestCa.newKeyPair().getPublic())
        .validity(NOW.minusSeconds(60), Duration.ofHours(1)).build());
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("ca.crt", a.certificatePem() + leaf)),
        "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("ConfigMap apps/kube-mtls-ca key ca.crt: certificate 2")
        .hasMessageContaining("is not a CA certificate");
  }

  @Test
  void rejectsABundleWhoseOnlyCaHasExpired() {
    TestCa expired = TestCa.create("expired", NOW.minus(Duration.ofDays(30)), Duration.ofDays(10));
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("ca.crt", expired.certificatePem())),
        "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("CN=expired")
        .hasMessageContaining("expired at " + NOW.minus(Duration.ofDays(20)))
        .hasMessageContaining("every CA of the bundle has expired");
  }

  @Test
  void leavesOutAnExpiredCaThatARotationHasNotRemovedYetAndSaysSo() {
    TestCa expired = TestCa.create("old-expired", NOW.minus(Duration.ofDays(30)), Duration.ofDays(10));
    TestCa current = ca("current");
    TestCa next = ca("next");
    TrustBundle bundle = TrustBundles.fromConfigMap(configMap(Map.of("ca.crt",
        current.certificatePem() + expired.certificatePem() + next.certificatePem())), "ca.crt", clock);
    assertThat(bundle.certificates()).containsExactly(current.certificate(), next.certificate());
    assertThat(bundle.ignored()).singleElement().asString()
        .contains("certificate 2").contains("CN=old-expired").contains("expired at " + NOW.minus(Duration.ofDays(20)));
    assertThat(bundle.toString()).contains("ignored=1");
    // The trust manager really leaves it out.
    assertThat(bundle.trustManager().getAcceptedIssuers()).containsExactlyInAnyOrder(
        current.certificate(), next.certificate());
    // Expiry is judged by the injected clock: a day earlier it was still trusted.
    clock.set(NOW.minus(Duration.ofDays(21)));
    assertThat(TrustBundles.fromConfigMap(configMap(Map.of("ca.crt", current.certificatePem()
        + expired.certificatePem())), "ca.crt", clock).ignored()).isEmpty();
  }

  @Test
  void aNotACaCertificateStillFailsTheWholeBundleEvenBesideAnExpiredOne() {
    TestCa expired = TestCa.create("old-expired", NOW.minus(Duration.ofDays(30)), Duration.ofDays(10));
    TestCa a = ca("root");
    String leaf = TestCa.toPem(a.leaf(TestCa.newKeyPair().getPublic())
        .validity(NOW.minusSeconds(60), Duration.ofHours(1)).build());
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("ca.crt",
        expired.certificatePem() + a.certificatePem() + leaf)), "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("certificate 3").hasMessageContaining("is not a CA certificate");
  }

  @Test
  void rejectsGarbage() {
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("ca.crt", "not a certificate")),
        "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("holds no PEM block");
  }

  @Test
  void rejectsAnEmptyBundle() {
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("ca.crt", "")), "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("ConfigMap apps/kube-mtls-ca key ca.crt is empty");
  }

  @Test
  void namesTheKeysWhenTheKeyIsMissing() {
    assertThatThrownBy(() -> TrustBundles.fromConfigMap(configMap(Map.of("bundle.pem", "x")), "ca.crt", clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("key ca.crt does not exist")
        .hasMessageContaining("[bundle.pem]");
  }
}
