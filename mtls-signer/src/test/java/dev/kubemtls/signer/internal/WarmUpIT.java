package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's transport part on a real API server (RBAC on), as a ServiceAccount that no role is
 * bound to: {@code GET /version} is open to every authenticated client, so the signer's own account
 * needs no permission for it, and every request is answered and decoded.
 */
class WarmUpIT {

  @Test
  void anAccountWithoutRolesReadsTheVersionAsOftenAsAsked() {
    ControlPlane cluster = ControlPlane.shared();
    String namespace = cluster.createNamespace("kube-mtls-warm-up-");
    try (KubernetesClient client = cluster.clientFor(namespace, "no-roles")) {
      WarmUp.Result result = WarmUp.run(SignerConfig.builder("kube-mtls.dev/warm-up-it").build(), client, 40);
      assertThat(result.requests()).isEqualTo(40);
      assertThat(result.answers()).isEqualTo(40);
      assertThat(result.wall()).isPositive();
    }
  }
}
