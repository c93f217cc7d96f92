package dev.kubemtls.testkit;

/** The contract on the shared control plane, on whichever backend {@code -Dkube-mtls.control-plane} chose. */
class ControlPlaneSmokeIT extends ControlPlaneContract {

  @Override
  ControlPlane cp() {
    return ControlPlane.sharedWithControllerManager();
  }
}
