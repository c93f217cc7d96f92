package dev.kubemtls.kubernetes.trust;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.pki.CertificateChecks;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundleList;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;

/**
 * Coverage-guided fuzz tests of {@link TrustBundles#fromConfigMap} and
 * {@link TrustBundles#fromClusterTrustBundles}: the input is the JSON of the object as the API
 * server serves it (a ConfigMap; a ClusterTrustBundleList), read with fabric8's own deserializer.
 * JSON that fabric8 cannot read never reaches kube-mtls and is skipped, as are objects without
 * {@code metadata.name}, which the API server never serves (a null there is a programmer error).
 *
 * <p>The contract, from the Javadoc and from {@code InformerTrust}, which catches only
 * {@link MtlsException} when it re-reads a bundle on an informer thread: a bad bundle raises
 * {@link InvalidMaterialException} and nothing else; an accepted bundle holds only unexpired CA
 * certificates that may sign, and names its source version.
 */
class TrustBundlesFuzzTest {

  /** Inside the validity of the seeds' CAs (2026 to 2045); the seeds also hold a CA that expired in 2021. */
  private static final Instant NOW = Instant.parse("2030-06-01T12:00:00Z");
  private static final InstantSource CLOCK = InstantSource.fixed(NOW);

  @FuzzTest
  void fromConfigMap(byte[] input) {
    ConfigMap configMap = read(input, ConfigMap.class);
    if (configMap == null || configMap.getMetadata() == null) {
      return;
    }
    TrustBundle bundle;
    try {
      bundle = TrustBundles.fromConfigMap(configMap, TrustBundles.DEFAULT_KEY, CLOCK);
    } catch (InvalidMaterialException expected) {
      return;
    }
    assertUsable(bundle);
    assertThat(bundle.sourceVersion()).isEqualTo(configMap.getMetadata().getNamespace() + "/"
        + configMap.getMetadata().getName() + "@" + configMap.getMetadata().getResourceVersion());
  }

  @FuzzTest
  void fromClusterTrustBundles(byte[] input) {
    ClusterTrustBundleList list = read(input, ClusterTrustBundleList.class);
    if (list == null || list.getItems() == null) {
      return;
    }
    List<ClusterTrustBundle> items = list.getItems();
    if (items.stream().anyMatch(b -> b == null || b.getMetadata() == null || b.getMetadata().getName() == null)) {
      return;
    }
    TrustBundle bundle;
    try {
      bundle = TrustBundles.fromClusterTrustBundles(items, CLOCK);
    } catch (InvalidMaterialException expected) {
      return;
    }
    assertUsable(bundle);
    for (ClusterTrustBundle b : items) {
      assertThat(bundle.sourceVersion()).contains(b.getMetadata().getName() + "@");
    }
  }

  private static void assertUsable(TrustBundle bundle) {
    assertThat(bundle.certificates()).isNotEmpty().doesNotHaveDuplicates();
    for (X509Certificate ca : bundle.certificates()) {
      assertThat(CertificateChecks.caProblem(ca)).as("a CA by the shared rule").isEmpty();
      assertThat(ca.getNotAfter().toInstant()).isAfter(NOW);
    }
  }

  /** The object fabric8 reads from the JSON, or null when fabric8 rejects it (before kube-mtls sees it). */
  private static <T> T read(byte[] input, Class<T> type) {
    try {
      return Objects.requireNonNull(Serialization.unmarshal(new String(input, StandardCharsets.UTF_8), type));
    } catch (RuntimeException notAnObject) {
      return null;
    }
  }
}
