package dev.kubemtls.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;

/**
 * Runs the embedded control plane (with kube-controller-manager) until the process is stopped,
 * and writes its admin kubeconfig to the file given as the only argument. For running tests
 * against one long-lived control plane with {@code -Dkube-mtls.control-plane=kubeconfig
 * -Dkube-mtls.kubeconfig=<that file>}, or for poking at it with kubectl.
 */
public final class ControlPlaneMain {

  private ControlPlaneMain() {}

  /**
   * Starts the control plane, writes the kubeconfig and waits for the end of the process.
   *
   * @param args the kubeconfig file to write
   */
  public static void main(String[] args) throws IOException, InterruptedException {
    if (args.length != 1) {
      System.err.println("usage: ControlPlaneMain <kubeconfig file to write>");
      System.exit(2);
    }
    ControlPlane cp = ControlPlane.sharedWithControllerManager();
    Path target = Path.of(args[0]).toAbsolutePath();
    Files.copy(cp.writeAdminKubeconfig(), target, StandardCopyOption.REPLACE_EXISTING);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(target);
      } catch (IOException ignored) {
        // the control plane is gone anyway
      }
    }));
    System.out.println("control plane up at " + cp.apiServerUrl() + "; admin kubeconfig: " + target
        + "; stop with Ctrl-C");
    new CountDownLatch(1).await();
  }
}
