package dev.kubemtls.testkit.internal;

import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An existing cluster, named by a kubeconfig whose user is a cluster admin: any conformant
 * cluster, or the apiserver of a k3s container ({@link K3sBackend}). The cluster is not ours: the
 * apiserver cannot be stopped, and kube-controller-manager is the cluster's own.
 */
public final class KubeconfigBackend implements ClusterBackend {

  private final String what;
  private final Path kubeconfig;
  private final Config adminConfig;
  private final String caPem;
  private final Path workDir;
  private final Runnable onClose;
  private final boolean outlivesTests;

  private KubeconfigBackend(String what, Path kubeconfig, Config adminConfig, Path workDir, Runnable onClose,
      boolean outlivesTests) {
    this.what = what;
    this.kubeconfig = kubeconfig;
    this.adminConfig = adminConfig;
    this.caPem = Kubeconfigs.caPem(adminConfig);
    this.workDir = workDir;
    this.onClose = onClose;
    this.outlivesTests = outlivesTests;
  }

  /**
   * Connects to the cluster of {@code kubeconfig}'s current context and checks that it answers
   * and that its user may do everything (tests create namespaces, RBAC and approve CSRs).
   *
   * @throws ControlPlaneStartException if the file is unreadable, the cluster does not answer or the user is not an admin
   */
  public static KubeconfigBackend connect(Path kubeconfig) {
    return connect("cluster of the kubeconfig " + kubeconfig, kubeconfig, null, true);
  }

  static KubeconfigBackend connect(String what, Path kubeconfig, Runnable onClose, boolean outlivesTests) {
    if (!Files.isRegularFile(kubeconfig) || !Files.isReadable(kubeconfig)) {
      throw new ControlPlaneStartException("the kubeconfig " + kubeconfig + " is not a readable file. Point"
          + " -Dkube-mtls.kubeconfig (or KUBE_MTLS_KUBECONFIG) at the kubeconfig of a cluster-admin user.");
    }
    Config config;
    try {
      config = new ConfigBuilder(Kubeconfigs.withDetectedKeyAlgorithm(Config.fromKubeconfig(kubeconfig.toFile())))
          .withRequestTimeout(30_000).withConnectionTimeout(10_000).build();
    } catch (RuntimeException e) {
      throw new ControlPlaneStartException("the kubeconfig " + kubeconfig + " could not be read: " + e.getMessage(), e);
    }
    if (config.getMasterUrl() == null || config.getMasterUrl().isBlank()) {
      throw new ControlPlaneStartException("the kubeconfig " + kubeconfig + " names no server in its current context.");
    }
    checkReachableAdmin(what, config);
    Path workDir;
    try {
      workDir = Files.createTempDirectory("kube-mtls-cluster-");
    } catch (IOException e) {
      throw new UncheckedIOException("could not create a temporary directory for kubeconfigs", e);
    }
    return new KubeconfigBackend(what, kubeconfig, config, workDir, onClose, outlivesTests);
  }

  private static void checkReachableAdmin(String what, Config config) {
    Config probe = new ConfigBuilder(config).withRequestRetryBackoffLimit(0).build();
    try (KubernetesClient client = new KubernetesClientBuilder().withConfig(probe).build()) {
      SelfSubjectAccessReview review;
      try {
        review = client.resource(new SelfSubjectAccessReviewBuilder().withNewSpec()
            .withNewResourceAttributes().withVerb("*").withGroup("*").withResource("*").endResourceAttributes()
            .endSpec().build()).create();
      } catch (RuntimeException e) {
        throw new ControlPlaneStartException("the " + what + " at " + config.getMasterUrl() + " did not answer: "
            + e.getMessage() + ". Check that the cluster is up and that the kubeconfig's credentials are valid.", e);
      }
      if (review.getStatus() == null || !Boolean.TRUE.equals(review.getStatus().getAllowed())) {
        throw new ControlPlaneStartException("the user of the " + what + " is not a cluster admin (a"
            + " SelfSubjectAccessReview for every verb on every resource was not allowed). The tests create"
            + " namespaces, RBAC rules and CSR approvals: use the kubeconfig of a cluster-admin user.");
      }
    }
  }

  @Override
  public String description() {
    return what + " at " + adminConfig.getMasterUrl();
  }

  @Override
  public Config adminConfig() {
    return adminConfig;
  }

  @Override
  public String apiServerUrl() {
    String url = adminConfig.getMasterUrl();
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  @Override
  public String clusterCaPem() {
    return caPem;
  }

  @Override
  public Path adminKubeconfig() {
    return kubeconfig;
  }

  @Override
  public Path workDir() {
    return workDir;
  }

  /** A cluster of this kind runs its own kube-controller-manager; there is nothing to start. */
  @Override
  public void startControllerManager() {
    // the cluster's own controller manager signs kubernetes.io/* CSRs
  }

  @Override
  public void stopApiServer() {
    throw unsupported("stop the apiserver");
  }

  @Override
  public void startApiServer() {
    throw unsupported("start the apiserver");
  }

  private UnsupportedOperationException unsupported(String action) {
    return new UnsupportedOperationException("cannot " + action + ": the test control plane is the "
        + description() + ", which the tests do not own. This test needs the embedded control plane:"
        + " run it without -Dkube-mtls.control-plane (or with -Dkube-mtls.control-plane=embedded).");
  }

  @Override
  public boolean clusterOutlivesTests() {
    return outlivesTests;
  }

  @Override
  public void close() {
    try {
      if (onClose != null) {
        onClose.run();
      }
    } finally {
      ManagedProcess.deleteRecursively(workDir);
    }
  }
}
