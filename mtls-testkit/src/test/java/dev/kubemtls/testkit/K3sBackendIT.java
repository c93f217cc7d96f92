package dev.kubemtls.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.testcontainers.DockerClientFactory;

/**
 * The k3s backend. Where a Docker engine runs, it must start k3s and give a working cluster:
 * this test does that. Where none runs (as on our CI machines), choosing it must fail at once
 * with a message that names what is missing and the way out: this test checks that. Either way
 * something is asserted; the full contract runs on k3s with {@code -Dkube-mtls.control-plane=k3s}.
 */
class K3sBackendIT {

  @Test
  void startsAWorkingClusterWhereDockerRunsAndSaysWhatIsMissingWhereNot() {
    String image = ControlPlane.k3sImage();
    assertThat(image).startsWith("rancher/k3s:v");
    if (!DockerClientFactory.instance().isDockerAvailable()) {
      assertThatThrownBy(() -> ControlPlane.k3s(image)).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("needs a Docker engine")
          .hasMessageContaining("DOCKER_HOST")
          .hasMessageContaining("use the embedded control plane");
      return;
    }
    try (ControlPlane k3s = ControlPlane.k3s(image)) {
      assertThat(k3s.description()).contains("k3s");
      String ns = k3s.createNamespace("k3s");
      Pod pod = k3s.createPod(ns, "app-0", "app", Map.of("app", "k3s"), "10.42.99.9");
      try (var workload = k3s.clientFor(ns, "app", pod)) {
        var review = workload.resource(new io.fabric8.kubernetes.api.model.authentication.SelfSubjectReviewBuilder()
            .build()).create();
        assertThat(review.getStatus().getUserInfo().getUsername()).isEqualTo("system:serviceaccount:" + ns + ":app");
        assertThat(review.getStatus().getUserInfo().getExtra())
            .containsEntry("authentication.kubernetes.io/pod-name", java.util.List.of("app-0"));
      }
      assertThat(k3s.adminClient().pods().inNamespace(ns).withName("app-0").get().getStatus().getPodIP())
          .isEqualTo("10.42.99.9");
    }
  }
}
