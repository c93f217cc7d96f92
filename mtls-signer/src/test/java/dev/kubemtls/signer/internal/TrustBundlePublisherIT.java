package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/** The bundle ConfigMap appears in opted-in namespaces, comes back after deletion and is repaired after edits. */
class TrustBundlePublisherIT {

  private final SignerFixture fx = SignerFixture.get();

  @Test
  void publishesToOptedInNamespacesAndRepairsDeletionAndEdits() {
    String ns = fx.cp.createNamespace("bundle-it", Map.of(SignerFixture.OPT_IN, "true"));
    String expected = Pem.encodeCertificates(List.of(fx.ca.certificate()));
    awaitBundle(ns, expected);

    fx.admin.configMaps().inNamespace(ns).withName(SignerFixture.BUNDLE).delete();
    awaitBundle(ns, expected);

    ConfigMap current = fx.admin.configMaps().inNamespace(ns).withName(SignerFixture.BUNDLE).get();
    fx.admin.configMaps().inNamespace(ns).resource(new ConfigMapBuilder(current)
        .addToData("ca.crt", "tampered").addToData("note", "kept").build()).update();
    ConfigMap repaired = awaitBundle(ns, expected);
    assertThat(repaired.getData()).containsEntry("note", "kept");
    assertThat(repaired.getMetadata().getLabels())
        .containsEntry(TrustBundlePublisher.MANAGED_BY_LABEL, TrustBundlePublisher.MANAGED_BY);
  }

  @Test
  void aNamespaceThatOptsInLaterGetsTheBundleAndOthersDoNot() {
    String plain = fx.cp.createNamespace("bundle-plain");
    String later = fx.cp.createNamespace("bundle-later");
    fx.admin.namespaces().withName(later).edit(n -> new NamespaceBuilder(n).editMetadata()
        .addToLabels(SignerFixture.OPT_IN, "true").endMetadata().build());
    awaitBundle(later, Pem.encodeCertificates(List.of(fx.ca.certificate())));
    // The plain namespace never matches the label selector, so it is never queued.
    assertThat(fx.admin.configMaps().inNamespace(plain).withName(SignerFixture.BUNDLE).get()).isNull();
  }

  private ConfigMap awaitBundle(String ns, String expected) {
    return Awaitility.await("bundle in " + ns).atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50))
        .until(() -> fx.admin.configMaps().inNamespace(ns).withName(SignerFixture.BUNDLE).get(),
            cm -> cm != null && cm.getData() != null && expected.equals(cm.getData().get("ca.crt")));
  }
}
