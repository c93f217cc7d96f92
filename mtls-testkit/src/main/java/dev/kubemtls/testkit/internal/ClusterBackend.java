package dev.kubemtls.testkit.internal;

import io.fabric8.kubernetes.client.Config;
import java.nio.file.Path;

/**
 * Where a test control plane comes from: the embedded processes, a k3s container, or an existing
 * cluster named by a kubeconfig. {@code ControlPlane} builds everything else (namespaces, Pods,
 * tokens, clients) on the admin access a backend gives.
 */
public interface ClusterBackend {

  /** For logs and error messages, e.g. {@code "embedded kube-apiserver 1.35.4 at https://127.0.0.1:41234"}. */
  String description();

  /** Admin access ({@code system:masters} or equivalent). */
  Config adminConfig();

  /** The apiserver URL. */
  String apiServerUrl();

  /** The CA that verifies the apiserver's serving certificate, as PEM; null if the kubeconfig names none. */
  String clusterCaPem();

  /** A kubeconfig file with the admin access, for child processes. */
  Path adminKubeconfig();

  /** A private temporary directory, removed by {@link #close()}. */
  Path workDir();

  /** Makes sure a kube-controller-manager with the CSR controllers runs. */
  void startControllerManager();

  /**
   * Starts a kube-controller-manager with only {@code controllers} and the extra flags, for
   * measurements; only the embedded backend can.
   *
   * @throws UnsupportedOperationException on backends whose controller manager is the cluster's own
   */
  default void startControllerManager(java.util.List<String> controllers, java.util.List<String> extraFlags) {
    throw new UnsupportedOperationException("only the embedded control plane starts its own kube-controller-manager"
        + " with chosen controllers and flags; this is " + description());
  }

  /**
   * A kubeconfig file authenticating as the kubelet of {@code nodeName} (a client certificate for
   * {@code system:node:<name>} in {@code system:nodes}); only the embedded backend, whose CA this is, can.
   *
   * @throws UnsupportedOperationException on backends whose client CA the test kit does not hold
   */
  default Path nodeKubeconfig(String nodeName) {
    throw new UnsupportedOperationException("only the embedded control plane can issue a node's client"
        + " certificate (it holds the cluster CA); this is " + description());
  }

  /** Stops the apiserver, keeping the cluster's data; only the embedded backend can. */
  void stopApiServer();

  /** Starts the apiserver again after {@link #stopApiServer()}. */
  void startApiServer();

  /** Whether objects the tests create outlive this backend, so that they must be removed on close. */
  boolean clusterOutlivesTests();

  /** Stops what this backend started and removes its temporary files. */
  void close();
}
