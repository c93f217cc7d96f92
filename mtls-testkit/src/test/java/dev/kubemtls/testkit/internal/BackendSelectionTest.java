package dev.kubemtls.testkit.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.internal.BackendSelection.Kind;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BackendSelectionTest {

  private static BackendSelection parse(Map<String, String> settings) {
    return BackendSelection.parse(settings::get, "1.35.4");
  }

  @Test
  void embeddedIsTheDefaultAndBlankMeansDefault() {
    assertThat(parse(Map.of()).kind()).isEqualTo(Kind.EMBEDDED);
    assertThat(parse(Map.of(BackendSelection.PROPERTY, "  ")).kind()).isEqualTo(Kind.EMBEDDED);
    assertThat(parse(Map.of(BackendSelection.PROPERTY, "Embedded")).kind()).isEqualTo(Kind.EMBEDDED);
  }

  @Test
  void k3sUsesTheImageOfThePinnedVersionUnlessOneIsGiven() {
    BackendSelection k3s = parse(Map.of(BackendSelection.PROPERTY, "k3s"));
    assertThat(k3s.kind()).isEqualTo(Kind.K3S);
    assertThat(k3s.k3sImage()).isEqualTo("rancher/k3s:v1.35.4-k3s1");
    assertThat(parse(Map.of(BackendSelection.PROPERTY, "K3S", "kube-mtls.k3s.image", " rancher/k3s:v1.34.2-k3s1 "))
        .k3sImage()).isEqualTo("rancher/k3s:v1.34.2-k3s1");
  }

  @Test
  void kubeconfigNeedsItsFileNamedOnPurpose() {
    BackendSelection kc = parse(Map.of(BackendSelection.PROPERTY, "kubeconfig", "kube-mtls.kubeconfig", "/x/admin.conf"));
    assertThat(kc.kind()).isEqualTo(Kind.KUBECONFIG);
    assertThat(kc.kubeconfig()).isEqualTo(Path.of("/x/admin.conf"));
    // KUBECONFIG is deliberately not a fallback.
    assertThatThrownBy(() -> parse(Map.of(BackendSelection.PROPERTY, "kubeconfig", "KUBECONFIG", "/x/admin.conf")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("-Dkube-mtls.kubeconfig")
        .hasMessageContaining("KUBECONFIG is not read");
  }

  @Test
  void anUnknownBackendNamesTheValidOnes() {
    assertThatThrownBy(() -> parse(Map.of(BackendSelection.PROPERTY, "kind")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("kube-mtls.control-plane='kind' is not a backend")
        .hasMessageContaining("embedded").hasMessageContaining("k3s").hasMessageContaining("kubeconfig");
  }

  @Test
  void environmentNamesFollowTheProperties() {
    assertThat(BackendSelection.environmentName("kube-mtls.control-plane")).isEqualTo("KUBE_MTLS_CONTROL_PLANE");
    assertThat(BackendSelection.environmentName("kube-mtls.k3s.image")).isEqualTo("KUBE_MTLS_K3S_IMAGE");
  }
}
