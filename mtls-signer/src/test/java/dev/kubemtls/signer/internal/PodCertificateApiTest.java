package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link PodCertificateApi}: a {@code v1} and a {@code v1beta1} request read as the same view (the
 * key fields each version has), and the status written on a copy that keeps the metadata the update
 * is checked against.
 */
class PodCertificateApiTest {

  private static final Condition ISSUED = new ConditionBuilder().withType("Issued").withStatus("True")
      .withReason("Issued").withMessage("m").withLastTransitionTime("2026-01-01T00:00:00Z").build();

  @Test
  void readsAV1RequestWithItsStubRequestAndWritesTheStatusOnACopy() {
    var request = new io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequestBuilder()
        .withNewMetadata().withNamespace("shop").withName("req-1").withResourceVersion("42").withGeneration(1L)
        .endMetadata()
        .withNewSpec().withSignerName("kube-mtls.dev/workload").withPodName("web-0").withPodUID("uid")
        .withServiceAccountName("web").withMaxExpirationSeconds(3600).withStubPKCS10Request("c3R1Yg==")
        .withUnverifiedUserAnnotations(Map.of("a", "b")).endSpec().build();
    PodCertificateApi.View view = PodCertificateApi.V1.view(request);
    assertThat(view.key()).isEqualTo("shop/req-1");
    assertThat(view.request()).isEqualTo(new PodCertificateRules.Request("shop", "web-0", "uid", "web", "c3R1Yg==",
        null, null, 3600, Map.of("a", "b")));
    assertThat(view.terminal()).isFalse();
    assertThat(view.generation()).isEqualTo(1L);

    var issued = PodCertificateApi.V1.withStatus(request, new PodCertificateApi.Status(List.of(ISSUED), "chain",
        "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T00:45:00Z"));
    assertThat(issued).isNotSameAs(request);
    assertThat(request.getStatus()).isNull();
    assertThat(issued.getMetadata().getResourceVersion()).isEqualTo("42");
    assertThat(issued.getStatus().getCertificateChain()).isEqualTo("chain");
    assertThat(issued.getStatus().getNotBefore()).isEqualTo("2026-01-01T00:00:00Z");
    assertThat(issued.getStatus().getNotAfter()).isEqualTo("2026-01-01T01:00:00Z");
    assertThat(issued.getStatus().getBeginRefreshAt()).isEqualTo("2026-01-01T00:45:00Z");
    assertThat(PodCertificateApi.V1.view(issued).terminal()).isTrue();
    assertThat(PodCertificateApi.forVersion("v1")).isSameAs(PodCertificateApi.V1);
    assertThat(PodCertificateApi.V1.type().getPackageName()).endsWith(".certificates.v1");
  }

  @Test
  void readsAV1beta1RequestWithEitherKeyFormAndWritesADenialWithNothingElse() {
    var request = new io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestBuilder()
        .withNewMetadata().withNamespace("shop").withName("req-2").withResourceVersion("7").endMetadata()
        .withNewSpec().withSignerName("kube-mtls.dev/workload").withPodName("web-0").withPodUID("uid")
        .withServiceAccountName("web").withPkixPublicKey("a2V5").withProofOfPossession("cHJvb2Y=")
        .endSpec().build();
    assertThat(PodCertificateApi.V1BETA1.view(request).request()).isEqualTo(new PodCertificateRules.Request("shop",
        "web-0", "uid", "web", null, "a2V5", "cHJvb2Y=", null, null));
    Condition denied = new ConditionBuilder(ISSUED).withType("Denied").withReason("UnsupportedKeyType").build();
    var copy = PodCertificateApi.V1BETA1.withStatus(request, new PodCertificateApi.Status(List.of(denied), null, null,
        null, null));
    assertThat(copy.getMetadata().getResourceVersion()).isEqualTo("7");
    assertThat(copy.getStatus().getConditions()).containsExactly(denied);
    assertThat(copy.getStatus().getCertificateChain()).isNull();
    assertThat(copy.getStatus().getBeginRefreshAt()).isNull();
    assertThat(PodCertificateApi.V1BETA1.view(copy).terminal()).isTrue();
    assertThat(PodCertificateApi.forVersion("v1beta1")).isSameAs(PodCertificateApi.V1BETA1);
    assertThatThrownBy(() -> PodCertificateApi.forVersion("v1alpha1")).isInstanceOf(IllegalArgumentException.class);
  }
}
