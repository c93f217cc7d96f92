package dev.kubemtls.spring.internal;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * How the starter reaches the API server, decided before any client is built: a kubeconfig file
 * named by {@code kube-mtls.kubeconfig-file}; the environment's kubeconfig ({@code KUBECONFIG},
 * {@code ~/.kube/config}) only when {@code kube-mtls.kubeconfig-from-environment=true}; otherwise the
 * in-cluster configuration, and only inside a Pod. A kubeconfig found in the environment without the
 * opt-in stops the application instead of being used, so a laptop never lands on the cluster of its
 * current context by accident.
 */
public final class ApiServerAccess {

  /** Where the client's configuration comes from. */
  public enum Kind {
    /** {@code kube-mtls.kubeconfig-file}. */
    KUBECONFIG_FILE,
    /** fabric8's auto-configuration with the environment's kubeconfig (opted in). */
    ENVIRONMENT,
    /** fabric8's auto-configuration in a Pod, with no kubeconfig in the environment. */
    IN_CLUSTER
  }

  private ApiServerAccess() {}

  /**
   * Decides, or throws a {@link StartupProblem} that names what to set.
   *
   * @param kubeconfigFile          {@code kube-mtls.kubeconfig-file}, may be null or blank
   * @param fromEnvironment         {@code kube-mtls.kubeconfig-from-environment}
   * @param serviceAccountDir       where a Pod's ServiceAccount is mounted
   * @param serviceHost             {@code KUBERNETES_SERVICE_HOST}, null outside a Pod
   * @param environmentKubeconfigs  the kubeconfig files the environment names (fabric8's list:
   *                                {@code KUBECONFIG}'s entries, or {@code ~/.kube/config})
   */
  public static Kind decide(String kubeconfigFile, boolean fromEnvironment, Path serviceAccountDir,
      String serviceHost, List<Path> environmentKubeconfigs) {
    Objects.requireNonNull(serviceAccountDir, "serviceAccountDir");
    if (kubeconfigFile != null && !kubeconfigFile.isBlank()) {
      return Kind.KUBECONFIG_FILE;
    }
    if (fromEnvironment) {
      return Kind.ENVIRONMENT;
    }
    List<Path> present = environmentKubeconfigs.stream().filter(Files::isRegularFile).toList();
    if (!present.isEmpty()) {
      throw new StartupProblem("kube-mtls will not use the kubeconfig found in the environment ("
          + present.get(0) + ", from KUBECONFIG or ~/.kube/config) without an opt-in",
          "Set kube-mtls.kubeconfig-file=<file> to name the cluster to use, or"
              + " kube-mtls.kubeconfig-from-environment=true to use the environment's current context.");
    }
    boolean inPod = serviceHost != null && !serviceHost.isBlank()
        && Files.isRegularFile(serviceAccountDir.resolve("token"));
    if (!inPod) {
      throw new StartupProblem("kube-mtls is not running in a Pod (no " + serviceAccountDir.resolve("token")
          + " or no KUBERNETES_SERVICE_HOST) and kube-mtls.kubeconfig-file is not set",
          "Set kube-mtls.kubeconfig-file=<file> (a kubeconfig with a ServiceAccount token bound to this"
              + " process's Pod object), or kube-mtls.kubeconfig-from-environment=true.");
    }
    return Kind.IN_CLUSTER;
  }
}
