package dev.kubemtls.samples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The demo counts a CA rotation from the cluster's trust bundle: a CA that leaves the bundle is a
 * completed rotation, whichever signer replica removed it (no signer runs here at all: the bundle is
 * written as a standby that completed the rotation would write it).
 */
class CaRotationWatchIT {

  @Test
  void aCaLeavingTheBundleIsACompletedRotation() throws Exception {
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String ns = cp.createNamespace("ca-rotation-watch");
    TestCa first = TestCa.create("first");
    TestCa second = TestCa.create("second");
    write(admin, ns, first.certificatePem());
    try (CaRotationWatch watch = new CaRotationWatch(admin, ns, "bundle")) {
      assertThat(watch.started(10, TimeUnit.SECONDS)).isTrue();
      // The new CA joins: a rotation has started, none completed.
      write(admin, ns, first.certificatePem() + second.certificatePem());
      assertThat(watch.completed()).isZero();
      // The old CA leaves: the rotation is complete.
      write(admin, ns, second.certificatePem());
      assertThat(watch.awaitCompleted(1, Duration.ofSeconds(30))).as("the rotation to be counted").isTrue();
      assertThat(watch.completed()).isEqualTo(1);
    }
  }

  private static void write(KubernetesClient admin, String ns, String bundle) {
    admin.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName("bundle")
        .endMetadata().addToData(Defaults.TRUST_BUNDLE_KEY, bundle).build()).forceConflicts().serverSideApply();
  }
}
