package dev.kubemtls.testkit;

import dev.kubemtls.testkit.internal.ControlPlaneStartException;
import dev.kubemtls.testkit.internal.ManagedProcess;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real kubelet without a container runtime, registered as a Node of the embedded control plane:
 * kubemark's hollow node ({@code --morph=kubelet}), built by {@code scripts/k8s-binaries.sh} as
 * {@code kubemark} beside the control-plane binaries. It runs the kubelet's own code (Pod sync,
 * volume manager, the projected-volume plugin and its atomic writer, the pod-certificate manager)
 * over a fake CRI runtime and a fake mounter, so Pods bound to it "run" and their projected volumes
 * are written for real, as plain directories under {@link #rootDirectory()}.
 *
 * <p>It authenticates with a client certificate for {@code system:node:<name>} in
 * {@code system:nodes} ({@link ControlPlane#writeNodeKubeconfig}), so the Node authorizer and
 * NodeRestriction apply to it exactly as to a kubelet. Kubelet feature gates are passed through
 * {@code KUBEMARK_FEATURE_GATES} (the upstream hollow node has no {@code --feature-gates}); by
 * default {@link #defaultFeatureGates(int)} for the run's release: {@code PodCertificateRequest=true}
 * before 1.37 (beta, off by default), none from 1.37 (stable, on by default).
 *
 * <p>{@link #start} waits until the Node is Ready. {@link #close()} stops the process, deletes the
 * Node object and removes the kubelet's root directory and its other files. kubemark chooses the
 * root directory itself ({@code /tmp/hollow-kubelet.*}, not configurable); it is read from the log.
 * kubemark also neither logs nor lets one choose the fake runtime's socket file
 * ({@code /tmp/kubelet_remote_<random>.sock}); close removes it when it was the only such file that
 * appeared during the start (another hollow node starting at the same time leaves it in place).
 * Only on the embedded control plane (the test kit must hold the cluster CA) and on linux-amd64.
 */
public final class HollowNode implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(HollowNode.class);

  /** The kubelet feature gates {@link #start(ControlPlane, String)} turns on before Kubernetes 1.37. */
  public static final String BETA_FEATURE_GATES = "PodCertificateRequest=true";

  private static final Duration START_TIMEOUT = Duration.ofMinutes(2);
  private static final Pattern FAKE_RUNTIME_SOCKET = Pattern.compile("kubelet_remote_\\d+\\.sock");
  private static final Pattern ROOT_DIR = Pattern.compile("Using (\\S+) as root dir for hollow-kubelet");

  private final ControlPlane controlPlane;
  private final String name;
  private final Path workDir;
  private final ManagedProcess process;
  private volatile Path rootDirectory;
  private volatile Path fakeRuntimeSocket;

  private HollowNode(ControlPlane controlPlane, String name, Path workDir, ManagedProcess process) {
    this.controlPlane = controlPlane;
    this.name = name;
    this.workDir = workDir;
    this.process = process;
  }

  /**
   * The kubelet feature gates the pod-certificate path needs on Kubernetes {@code 1.<minor>}:
   * {@link #BETA_FEATURE_GATES} before 1.37, none from 1.37, where {@code PodCertificateRequest} is
   * stable and on by default.
   */
  public static String defaultFeatureGates(int minor) {
    return minor >= 37 ? "" : BETA_FEATURE_GATES;
  }

  /**
   * Starts a hollow kubelet for Node {@code nodeName} with the run's
   * {@link #defaultFeatureGates(int)}.
   */
  public static HollowNode start(ControlPlane controlPlane, String nodeName) {
    return start(controlPlane, nodeName, defaultFeatureGates(ControlPlane.kubernetesMinor()));
  }

  /**
   * Starts a hollow kubelet for Node {@code nodeName} and waits until the Node is Ready.
   *
   * @param featureGates kubelet feature gates, {@code Name=true,Other=false}; empty for none
   * @throws IllegalStateException if the kubemark binary is missing (saying how to build it), or the
   *     kubelet exits or its Node does not become Ready in time (with the tail of its log)
   * @throws UnsupportedOperationException unless the control plane is the embedded one
   */
  public static HollowNode start(ControlPlane controlPlane, String nodeName, String featureGates) {
    Objects.requireNonNull(controlPlane, "controlPlane");
    Objects.requireNonNull(featureGates, "featureGates");
    Path binary = ControlPlane.binaryDirectory().resolve("kubemark");
    if (!Files.isExecutable(binary)) {
      throw new ControlPlaneStartException("the hollow kubelet " + binary + " is missing: run"
          + " scripts/k8s-binaries.sh (Maven runs it before integration tests) on a machine with the Go"
          + " toolchain to build it");
    }
    Path kubeconfig = controlPlane.writeNodeKubeconfig(nodeName);
    Path workDir;
    try {
      workDir = Files.createTempDirectory("kube-mtls-hollow-node-");
    } catch (IOException e) {
      throw new UncheckedIOException("could not create a temporary directory for the hollow node", e);
    }
    List<String> command = List.of(binary.toString(),
        "--morph=kubelet",
        "--name=" + nodeName,
        "--kubeconfig=" + kubeconfig,
        "--kubelet-port=" + freePort(),
        "--kubelet-read-only-port=0",
        "--use-host-image-service=false",
        "--v=2");
    ManagedProcess process = new ManagedProcess("hollow kubelet " + nodeName, command,
        workDir.resolve("kubemark.log"), java.util.Map.of("KUBEMARK_FEATURE_GATES", featureGates));
    HollowNode node = new HollowNode(controlPlane, nodeName, workDir, process);
    long t0 = System.nanoTime();
    try {
      Set<Path> socketsBefore = fakeRuntimeSockets();
      process.start();
      node.awaitReady();
      Set<Path> appeared = new HashSet<>(fakeRuntimeSockets());
      appeared.removeAll(socketsBefore);
      if (appeared.size() == 1) {
        node.fakeRuntimeSocket = appeared.iterator().next();
      }
    } catch (RuntimeException e) {
      node.close();
      throw e;
    }
    LOG.info("hollow kubelet {} Ready in {} ms (root dir {}, log {})", nodeName,
        (System.nanoTime() - t0) / 1_000_000, node.rootDirectory, process.log());
    return node;
  }

  private void awaitReady() {
    try {
      Awaitility.await("hollow kubelet " + name + " Ready").atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(250))
          .ignoreExceptionsMatching(e -> !(e instanceof ControlPlaneStartException))
          .until(() -> {
            process.checkAlive();
            if (rootDirectory == null) {
              rootDirectory = findRootDirectory().orElse(null);
            }
            Node node = controlPlane.adminClient().nodes().withName(name).get();
            return rootDirectory != null && node != null && node.getStatus() != null
                && node.getStatus().getConditions().stream().anyMatch(HollowNode::isReady);
          });
    } catch (ConditionTimeoutException e) {
      process.checkAlive();
      throw new ControlPlaneStartException("the hollow kubelet " + name + " did not become Ready within "
          + START_TIMEOUT + ". Last lines of its log " + process.log() + ":\n" + process.tail(40), e);
    }
  }

  private static Set<Path> fakeRuntimeSockets() {
    try (var files = Files.list(Path.of("/tmp"))) {
      return files.filter(p -> FAKE_RUNTIME_SOCKET.matcher(p.getFileName().toString()).matches())
          .collect(Collectors.toSet());
    } catch (IOException | UncheckedIOException e) {
      return Set.of();
    }
  }

  private static boolean isReady(NodeCondition c) {
    return "Ready".equals(c.getType()) && "True".equals(c.getStatus());
  }

  private Optional<Path> findRootDirectory() throws IOException {
    Matcher m = ROOT_DIR.matcher(Files.readString(process.log()));
    return m.find() ? Optional.of(Path.of(m.group(1))) : Optional.empty();
  }

  /** The Node's name. */
  public String name() {
    return name;
  }

  /** The kubelet's root directory ({@code --root-dir}): {@code pods/<uid>/volumes/...} live here. */
  public Path rootDirectory() {
    return rootDirectory;
  }

  /**
   * Where the kubelet writes projected volume {@code volumeName} of the Pod with UID {@code podUid}:
   * {@code <root>/pods/<uid>/volumes/kubernetes.io~projected/<volume>}.
   */
  public Path projectedVolume(String podUid, String volumeName) {
    return rootDirectory.resolve("pods").resolve(podUid).resolve("volumes").resolve("kubernetes.io~projected")
        .resolve(volumeName);
  }

  /** The kubelet's log, for failure messages. */
  public Path log() {
    return process.log();
  }

  /** The last {@code lines} lines of the kubelet's log. */
  public String logTail(int lines) {
    return process.tail(lines);
  }

  /** Stops the kubelet, deletes its Node and removes its files. */
  @Override
  public void close() {
    if (rootDirectory == null) {
      try {
        rootDirectory = findRootDirectory().orElse(null);
      } catch (IOException ignored) {
        // no log, no root directory
      }
    }
    process.stop();
    try {
      controlPlane.adminClient().nodes().withName(name).delete();
    } catch (RuntimeException e) {
      LOG.warn("could not delete the Node {}: {}", name, e.toString());
    }
    if (rootDirectory != null) {
      ManagedProcess.deleteRecursively(rootDirectory);
    }
    if (fakeRuntimeSocket != null) {
      try {
        Files.deleteIfExists(fakeRuntimeSocket);
      } catch (IOException ignored) {
        // an empty socket file in /tmp; nothing depends on it
      }
    }
    if (!Boolean.getBoolean("kube-mtls.keep-control-plane-files")) {
      ManagedProcess.deleteRecursively(workDir);
    }
  }

  @Override
  public String toString() {
    return "HollowNode[" + name + ", root " + rootDirectory + "]";
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free loopback port", e);
    }
  }
}
