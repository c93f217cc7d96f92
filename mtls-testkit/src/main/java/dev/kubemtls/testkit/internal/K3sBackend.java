package dev.kubemtls.testkit.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * A k3s server in a container started by Testcontainers: for machines with a Docker engine, as a
 * second backend for the same tests. k3s runs its own kube-controller-manager (which signs the
 * {@code kubernetes.io/*} signers with its client CA); its apiserver is given the
 * ClusterTrustBundle API like the embedded one. Nothing here is loaded unless this backend is chosen.
 */
public final class K3sBackend {

  private static final Logger LOG = LoggerFactory.getLogger(K3sBackend.class);

  private K3sBackend() {}

  /**
   * Starts k3s from {@code image} and connects to it as admin.
   *
   * @throws ControlPlaneStartException if there is no Docker engine or k3s does not come up, with the fix
   */
  public static KubeconfigBackend start(String image, Duration startupTimeout) {
    if (image == null || image.isBlank()) {
      throw new IllegalArgumentException("no k3s image given; use a rancher/k3s image, e.g. " + BackendSelection.defaultK3sImage(dev.kubemtls.testkit.ControlPlane.DEFAULT_VERSION));
    }
    if (!dockerAvailable()) {
      throw new ControlPlaneStartException("the k3s backend (-Dkube-mtls.control-plane=k3s) needs a Docker"
          + " engine, and Testcontainers found none (DOCKER_HOST=" + System.getenv("DOCKER_HOST") + "). Start a"
          + " Docker engine (or point DOCKER_HOST at one), or use the embedded control plane: drop"
          + " -Dkube-mtls.control-plane; its binaries come from scripts/k8s-binaries.sh.");
    }
    K3sContainer k3s;
    try {
      k3s = new K3sContainer(DockerImageName.parse(image).asCompatibleSubstituteFor("rancher/k3s"));
    } catch (RuntimeException e) {
      throw new ControlPlaneStartException("the k3s image name '" + image + "' is not usable: " + e.getMessage()
          + ". Set -Dkube-mtls.k3s.image to a rancher/k3s image, e.g. " + BackendSelection.defaultK3sImage(dev.kubemtls.testkit.ControlPlane.DEFAULT_VERSION), e);
    }
    List<String> command = new java.util.ArrayList<>(List.of("server",
        "--disable=traefik,servicelb,metrics-server,local-storage",
        "--tls-san=" + k3s.getHost()));
    // The certificates APIs as the release serves them: stable and on by default from 1.37, beta before.
    List<String> apiFlags = EmbeddedBackend.certificatesApiFlags(dev.kubemtls.testkit.ControlPlane.kubernetesVersion());
    for (String flag : apiFlags) {
      command.add("--kube-apiserver-arg=" + flag.substring(2));
    }
    if (!apiFlags.isEmpty()) {
      command.add("--kubelet-arg=feature-gates=PodCertificateRequest=true");
    }
    k3s.withCommand(command.toArray(String[]::new)).withStartupTimeout(startupTimeout);
    long t0 = System.nanoTime();
    try {
      k3s.start();
    } catch (RuntimeException e) {
      String logs = ManagedProcess.lastLines(safeLogs(k3s), 40);
      k3s.stop();
      throw new ControlPlaneStartException("k3s from the image " + image + " did not start (startup timeout "
          + startupTimeout + "): " + e.getMessage() + ". Last lines of its log:\n" + logs + "\nFix: check that the"
          + " image exists locally or can be pulled (with no registry, also pre-load testcontainers/ryuk or set"
          + " TESTCONTAINERS_RYUK_DISABLED=true) and that the engine allows privileged containers; or use the"
          + " embedded control plane.", e);
    }
    Path kubeconfig;
    try {
      Path dir = Files.createTempDirectory("kube-mtls-k3s-");
      kubeconfig = dir.resolve("admin.kubeconfig");
      Files.writeString(kubeconfig, k3s.getKubeConfigYaml());
      KubeconfigBackend backend = KubeconfigBackend.connect("k3s container " + image, kubeconfig, () -> {
        k3s.stop();
        ManagedProcess.deleteRecursively(dir);
      }, false);
      LOG.info("k3s {} ready at {} in {} ms", image, backend.apiServerUrl(), (System.nanoTime() - t0) / 1_000_000);
      return backend;
    } catch (IOException e) {
      k3s.stop();
      throw new UncheckedIOException("could not write the k3s kubeconfig", e);
    } catch (RuntimeException e) {
      k3s.stop();
      throw e;
    }
  }

  private static boolean dockerAvailable() {
    try {
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      LOG.warn("Testcontainers could not look for a Docker engine: {}", e.toString());
      return false;
    }
  }

  private static String safeLogs(K3sContainer k3s) {
    try {
      String logs = k3s.getLogs();
      return logs == null || logs.isBlank() ? "(the container wrote nothing)" : logs;
    } catch (RuntimeException e) {
      return "(logs unavailable: " + e.getMessage() + ")";
    }
  }
}
