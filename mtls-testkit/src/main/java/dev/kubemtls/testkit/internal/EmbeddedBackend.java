package dev.kubemtls.testkit.internal;

import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default backend: etcd and kube-apiserver (and, on request, kube-controller-manager) as child
 * processes on loopback, from the binaries {@code scripts/k8s-binaries.sh} provides. The apiserver
 * runs with the Node and RBAC authorizers and the NodeRestriction admission plugin, ServiceAccount
 * token issuance, and the ClusterTrustBundle and PodCertificateRequest APIs as a user's cluster of
 * that release has them: on 1.37 and later the stable {@code certificates.k8s.io/v1} APIs, on by
 * default, with no extra flag (a stock cluster); before 1.37 the beta APIs, switched on with their
 * feature gates and {@code --runtime-config} ({@link #certificatesApiFlags(String)}).
 */
public final class EmbeddedBackend implements ClusterBackend {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedBackend.class);
  private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

  private final Path binDir;
  private final Path workDir;
  private final Pki pki;
  private final int etcdClientPort;
  private final int apiServerPort;
  private final ManagedProcess etcd;
  private final ManagedProcess apiServer;
  private ManagedProcess controllerManager;
  private final Config adminConfig;

  private EmbeddedBackend(Path binDir, String version, Path workDir, String serviceAccountIssuer)
      throws IOException {
    this.binDir = binDir;
    this.workDir = workDir;
    this.pki = new Pki();
    Path pkiDir = workDir.resolve("pki");
    pki.writeTo(pkiDir);
    this.etcdClientPort = freePort();
    int etcdPeerPort = freePort();
    this.apiServerPort = freePort();
    etcd = new ManagedProcess("etcd", List.of(
        bin("etcd").toString(),
        "--name=kube-mtls-test",
        "--data-dir=" + workDir.resolve("etcd-data"),
        "--listen-client-urls=http://127.0.0.1:" + etcdClientPort,
        "--advertise-client-urls=http://127.0.0.1:" + etcdClientPort,
        "--listen-peer-urls=http://127.0.0.1:" + etcdPeerPort,
        "--initial-advertise-peer-urls=http://127.0.0.1:" + etcdPeerPort,
        "--initial-cluster=kube-mtls-test=http://127.0.0.1:" + etcdPeerPort,
        "--unsafe-no-fsync=true",
        "--log-level=warn"), workDir.resolve("etcd.log"));
    List<String> apiServerArgs = new ArrayList<>(List.of(
        bin("kube-apiserver").toString(),
        "--etcd-servers=http://127.0.0.1:" + etcdClientPort,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=" + apiServerPort,
        "--cert-dir=" + workDir.resolve("apiserver-certs"),
        "--tls-cert-file=" + pkiDir.resolve("apiserver.crt"),
        "--tls-private-key-file=" + pkiDir.resolve("apiserver.key"),
        "--client-ca-file=" + pkiDir.resolve("ca.crt"),
        // Node before RBAC, with NodeRestriction: a client acting as system:node:<name> gets exactly
        // a kubelet's rights, which PodCertificateRequests (created by the node) depend on.
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--service-account-issuer=" + serviceAccountIssuer,
        "--api-audiences=" + serviceAccountIssuer,
        "--service-account-key-file=" + pkiDir.resolve("sa.pub"),
        "--service-account-signing-key-file=" + pkiDir.resolve("sa.key"),
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1"));
    apiServerArgs.addAll(certificatesApiFlags(version));
    apiServer = new ManagedProcess("kube-apiserver", apiServerArgs, workDir.resolve("kube-apiserver.log"));
    this.adminConfig = new ConfigBuilder(Config.empty())
        .withMasterUrl(apiServerUrl())
        .withCaCertData(Kubeconfigs.b64(pki.ca.certificatePem()))
        .withClientCertData(Kubeconfigs.b64(TestCa.toPem(pki.adminCert)))
        .withClientKeyData(Kubeconfigs.b64(TestCa.toPem(pki.adminKey.getPrivate())))
        .withClientKeyAlgo("EC")
        .withRequestTimeout(30_000)
        .withConnectionTimeout(10_000)
        .build();
  }

  /**
   * Starts etcd and kube-apiserver from {@code binDir}.
   *
   * @throws IllegalStateException naming the missing binary or the process that died, with its log's tail
   */
  public static EmbeddedBackend start(Path binDir, String version, String serviceAccountIssuer) {
    Path workDir = null;
    EmbeddedBackend backend;
    try {
      workDir = Files.createTempDirectory("kube-mtls-control-plane-");
      backend = new EmbeddedBackend(binDir, version, workDir, serviceAccountIssuer);
    } catch (IOException | RuntimeException e) {
      ManagedProcess.deleteRecursively(workDir);
      if (e instanceof RuntimeException re) {
        throw re;
      }
      throw new UncheckedIOException("could not prepare the control plane's temporary files", (IOException) e);
    }
    backend.startAll();
    return backend;
  }

  /**
   * The kube-apiserver flags that give release {@code version} the certificates APIs a user's
   * cluster has: none from 1.37 on (the {@code v1} PodCertificateRequest and ClusterTrustBundle
   * APIs are stable and on by default, {@code v1beta1} off), the beta gates and
   * {@code --runtime-config} before (1.35 and 1.36 serve the APIs only in {@code v1beta1}).
   */
  public static List<String> certificatesApiFlags(String version) {
    if (minor(version) >= 37) {
      return List.of();
    }
    return List.of(
        "--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true,"
            + "certificates.k8s.io/v1beta1/podcertificaterequests=true",
        "--feature-gates=ClusterTrustBundle=true,PodCertificateRequest=true");
  }

  /** The minor release of {@code 1.<minor>.<patch>}. */
  public static int minor(String version) {
    String[] parts = version.split("\\.");
    if (parts.length < 2 || !parts[0].equals("1")) {
      throw new IllegalArgumentException("not a Kubernetes 1.x release: '" + version + "'");
    }
    try {
      return Integer.parseInt(parts[1]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a Kubernetes 1.x release: '" + version + "'", e);
    }
  }

  private Path bin(String name) {
    Path p = binDir.resolve(name);
    if (!Files.isExecutable(p)) {
      throw new ControlPlaneStartException("the " + name + " binary is missing: expected an executable at " + p
          + ". Run scripts/k8s-binaries.sh from the repository root (it builds the control-plane binaries with"
          + " the Go toolchain and caches them; './mvnw verify' runs it before the integration tests).");
    }
    return p;
  }

  private void startAll() {
    long t0 = System.nanoTime();
    try {
      etcd.start();
      awaitUp(etcd, () -> Probes.healthy("http://127.0.0.1:" + etcdClientPort + "/health"));
      startApiServer();
    } catch (RuntimeException e) {
      close();
      throw new IllegalStateException("The Kubernetes test control plane did not start: " + e.getMessage()
          + "\nBinaries: " + binDir + "\nFix: run scripts/k8s-binaries.sh and check the log above.", e);
    }
    LOG.info("control plane ready at {} in {} ms (etcd on {}, work dir {})", apiServerUrl(),
        (System.nanoTime() - t0) / 1_000_000, etcdClientPort, workDir);
  }

  @Override
  public String description() {
    return "embedded etcd and kube-apiserver at " + apiServerUrl() + " (binaries in " + binDir + ")";
  }

  @Override
  public Config adminConfig() {
    return adminConfig;
  }

  @Override
  public String apiServerUrl() {
    return "https://127.0.0.1:" + apiServerPort;
  }

  @Override
  public String clusterCaPem() {
    return pki.ca.certificatePem();
  }

  @Override
  public Path workDir() {
    return workDir;
  }

  @Override
  public synchronized Path adminKubeconfig() {
    Path file = workDir.resolve("admin.kubeconfig");
    if (!Files.exists(file)) {
      Path pkiDir = workDir.resolve("pki");
      Kubeconfigs.write(file, apiServerUrl(), clusterCaPem(), false, "client-certificate: "
          + pkiDir.resolve("admin.crt") + "\n    client-key: " + pkiDir.resolve("admin.key"));
    }
    return file;
  }

  @Override
  public synchronized Path nodeKubeconfig(String nodeName) {
    var key = TestCa.newKeyPair();
    var cert = pki.nodeClientCert(key, nodeName);
    Path dir = workDir.resolve("pki").resolve("node-" + nodeName);
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve("client.crt"), TestCa.toPem(cert));
      Files.writeString(dir.resolve("client.key"), TestCa.toPem(key.getPrivate()));
    } catch (IOException e) {
      throw new UncheckedIOException("could not write the client certificate of node " + nodeName + " to " + dir, e);
    }
    Path file = dir.resolve("kubeconfig");
    Kubeconfigs.write(file, apiServerUrl(), clusterCaPem(), false, "client-certificate: "
        + dir.resolve("client.crt") + "\n    client-key: " + dir.resolve("client.key"));
    return file;
  }

  @Override
  public synchronized void startApiServer() {
    apiServer.start();
    awaitUp(apiServer, () -> Probes.healthy(apiServerUrl() + "/readyz"));
  }

  @Override
  public synchronized void stopApiServer() {
    apiServer.stop();
  }

  @Override
  public synchronized void startControllerManager() {
    startControllerManager(List.of("certificatesigningrequest-signing-controller",
        "certificatesigningrequest-approving-controller", "certificatesigningrequest-cleaner-controller",
        "root-ca-certificate-publisher-controller"), List.of());
  }

  @Override
  public synchronized void startControllerManager(List<String> controllers, List<String> extraFlags) {
    if (controllerManager != null && controllerManager.isAlive()) {
      return;
    }
    Path pkiDir = workDir.resolve("pki");
    Path kubeconfig = adminKubeconfig();
    int port = freePort();
    List<String> command = new ArrayList<>(List.of(
        bin("kube-controller-manager").toString(),
        "--kubeconfig=" + kubeconfig,
        "--authentication-kubeconfig=" + kubeconfig,
        "--authorization-kubeconfig=" + kubeconfig,
        "--bind-address=127.0.0.1",
        "--secure-port=" + port,
        "--leader-elect=false",
        "--controllers=" + String.join(",", controllers),
        "--cluster-signing-cert-file=" + pkiDir.resolve("ca.crt"),
        "--cluster-signing-key-file=" + pkiDir.resolve("ca.key"),
        "--root-ca-file=" + pkiDir.resolve("ca.crt"),
        "--v=1"));
    command.addAll(extraFlags);
    controllerManager = new ManagedProcess("kube-controller-manager", command,
        workDir.resolve("kube-controller-manager.log"));
    controllerManager.start();
    ManagedProcess kcm = controllerManager;
    awaitUp(kcm, () -> Probes.healthy("https://127.0.0.1:" + port + "/healthz"));
  }

  @Override
  public boolean clusterOutlivesTests() {
    return false;
  }

  private void awaitUp(ManagedProcess process, Callable<Boolean> ready) {
    try {
      Awaitility.await(process.name() + " ready").atMost(START_TIMEOUT).pollInterval(Duration.ofMillis(200))
          .ignoreExceptionsMatching(e -> !(e instanceof ControlPlaneStartException))
          .until(() -> {
            process.checkAlive();
            return ready.call();
          });
    } catch (ConditionTimeoutException e) {
      process.checkAlive();
      throw new ControlPlaneStartException(process.name() + " did not become ready within " + START_TIMEOUT
          + ". Last lines of its log " + process.log() + ":\n" + process.tail(40), e);
    }
  }

  @Override
  public synchronized void close() {
    List<ManagedProcess> all = new ArrayList<>();
    if (controllerManager != null) {
      all.add(controllerManager);
    }
    all.add(apiServer);
    all.add(etcd);
    for (ManagedProcess p : all) {
      p.stop();
    }
    if (!Boolean.getBoolean("kube-mtls.keep-control-plane-files")) {
      ManagedProcess.deleteRecursively(workDir);
    }
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
