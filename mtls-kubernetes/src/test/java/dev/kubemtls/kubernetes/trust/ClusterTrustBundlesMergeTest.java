package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TrustBundle;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundleBuilder;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link TrustBundles#fromClusterTrustBundles}: merging, ordering, checking and naming. */
class ClusterTrustBundlesMergeTest {

  private static final Instant NOW = Instant.parse("2030-01-01T00:00:00Z");
  private static final TestCa ONE = TestCa.create("one", NOW.minus(Duration.ofDays(1)), Duration.ofDays(365));
  private static final TestCa TWO = TestCa.create("two", NOW.minus(Duration.ofDays(1)), Duration.ofDays(365));
  private static final TestCa EXPIRED = TestCa.create("expired", NOW.minus(Duration.ofDays(2)), Duration.ofDays(1));
  private final MutableClock clock = new MutableClock(NOW);

  private static ClusterTrustBundle bundle(String suffix, String rv, String pem) {
    return new ClusterTrustBundleBuilder().withNewMetadata().withName("kube-mtls.dev:workload:" + suffix)
        .withResourceVersion(rv).endMetadata().withNewSpec().withSignerName("kube-mtls.dev/workload")
        .withTrustBundle(pem).endSpec().build();
  }

  @Test
  void mergesTheCasOfEveryBundleOnceInTheOrderOfTheirNamesAndNamesEveryVersion() {
    TrustBundle merged = TrustBundles.fromClusterTrustBundles(List.of(
        bundle("z", "7", TWO.certificatePem() + ONE.certificatePem()),
        bundle("a", "5", ONE.certificatePem())), clock);
    assertThat(merged.certificates()).containsExactly(ONE.certificate(), TWO.certificate());
    assertThat(merged.sourceVersion()).isEqualTo("kube-mtls.dev:workload:a@5,kube-mtls.dev:workload:z@7");
    assertThat(merged.ignored()).isEmpty();
  }

  @Test
  void oneBundleWithACertificateThatIsNotACaFailsTheMergeAndIsNamed() {
    KeyPair kp = TestCa.newKeyPair();
    String leaf = TestCa.toPem(ONE.leaf(kp.getPublic()).dns("x").build());
    assertThatThrownBy(() -> TrustBundles.fromClusterTrustBundles(List.of(
        bundle("good", "1", ONE.certificatePem()), bundle("bad", "2", leaf)), clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("ClusterTrustBundle kube-mtls.dev:workload:bad: certificate 1")
        .hasMessageContaining("is not a CA");
  }

  @Test
  void garbageInOneBundleFailsTheMerge() {
    assertThatThrownBy(() -> TrustBundles.fromClusterTrustBundles(List.of(
        bundle("good", "1", ONE.certificatePem()), bundle("bad", "2", "not pem")), clock))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("ClusterTrustBundle kube-mtls.dev:workload:bad");
    assertThatThrownBy(() -> TrustBundles.fromClusterTrustBundles(List.of(bundle("empty", "1", null)), clock))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("empty");
  }

  @Test
  void anExpiredCaIsLeftOutWhenAnotherBundleStillHoldsAValidOne() {
    TrustBundle merged = TrustBundles.fromClusterTrustBundles(List.of(
        bundle("old", "1", EXPIRED.certificatePem()), bundle("new", "2", TWO.certificatePem())), clock);
    assertThat(merged.certificates()).containsExactly(TWO.certificate());
    assertThat(merged.ignored()).singleElement().asString()
        .contains("ClusterTrustBundle kube-mtls.dev:workload:old").contains("expired at");
  }

  @Test
  void refusesAMergeWhoseCasHaveAllExpiredAndAnEmptySet() {
    assertThatThrownBy(() -> TrustBundles.fromClusterTrustBundles(List.of(
        bundle("old", "1", EXPIRED.certificatePem())), clock))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("every CA of the bundle has expired");
    assertThatThrownBy(() -> TrustBundles.fromClusterTrustBundles(List.of(), clock))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("no ClusterTrustBundle");
  }

  @Test
  void expiryIsJudgedByTheInjectedClock() {
    List<ClusterTrustBundle> bundles = List.of(bundle("a", "1", ONE.certificatePem() + EXPIRED.certificatePem()));
    clock.set(NOW.minus(Duration.ofDays(1)).minus(Duration.ofHours(1)));
    assertThat(TrustBundles.fromClusterTrustBundles(bundles, clock).certificates())
        .containsExactly(ONE.certificate(), EXPIRED.certificate());
  }

  @Test
  void theSourceBuilderChecksSignerNameAndLabels() {
    try (var client = new io.fabric8.kubernetes.client.KubernetesClientBuilder()
        .withConfig(new io.fabric8.kubernetes.client.ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build())
        .build()) {
      assertThatThrownBy(() -> ClusterTrustBundleTrustSource.builder(client, "no-slash"))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("signerName");
      assertThatThrownBy(() -> ClusterTrustBundleTrustSource.builder(client, "kube-mtls.dev/workload")
          .labelSelector(java.util.Map.of("bad key!", "x")))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("label key");
      assertThat(ClusterTrustBundleTrustSource.builder(client, "kube-mtls.dev/workload")
          .labelSelector(java.util.Map.of("app.kubernetes.io/managed-by", "kube-mtls-signer")).build().signerName())
          .isEqualTo("kube-mtls.dev/workload");
    }
  }
}
