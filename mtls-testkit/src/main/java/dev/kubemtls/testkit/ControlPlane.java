package dev.kubemtls.testkit;

import dev.kubemtls.testkit.internal.ControlPlaneStartException;
import dev.kubemtls.testkit.internal.ManagedProcess;
import dev.kubemtls.testkit.internal.Pki;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes control plane on loopback for tests: etcd and kube-apiserver processes with RBAC
 * on, ServiceAccount token issuance (TokenRequest, bound tokens) and the
 * {@code certificates.k8s.io/v1beta1} ClusterTrustBundle API enabled; on request also
 * kube-controller-manager with the CSR signing, approving and cleaning controllers and the root-CA
 * publisher.
 *
 * <p>One control plane serves a whole test JVM ({@link #shared()}); it stops, and its temporary
 * files are removed, when the JVM exits, also after a failure. Tests isolate themselves by working
 * in their own namespace ({@link #createNamespace}). Workloads act as themselves:
 * {@link #clientFor(String, String, Pod)} authenticates with a real ServiceAccount token bound to a
 * Pod, so RBAC and the apiserver-filled requester fields of a CSR are the real ones.
 *
 * <p>The binaries come from {@code scripts/k8s-binaries.sh} (which Maven runs before integration
 * tests): {@code ${KUBE_MTLS_BIN_CACHE:-~/.cache/kube-mtls}/k8s/<version>-linux-amd64/}. If the
 * control plane cannot start, {@link #shared()} throws with the failing part, the tail of its log
 * and what to do; tests never skip.
 */
public final class ControlPlane {

  private static final Logger LOG = LoggerFactory.getLogger(ControlPlane.class);

  /** The Kubernetes release the tests use unless {@code -Dkube-mtls.k8s.version} says otherwise. */
  public static final String DEFAULT_VERSION = "1.35.4";

  /** The issuer and audience of ServiceAccount tokens, as in a default cluster. */
  public static final String SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
  private static final AtomicInteger NAMESPACES = new AtomicInteger();
  private static ControlPlane shared;

  private final Path binDir;
  private final Path workDir;
  private final Pki pki;
  private final int etcdClientPort;
  private final int etcdPeerPort;
  private final int apiServerPort;
  private final ManagedProcess etcd;
  private final ManagedProcess apiServer;
  private ManagedProcess controllerManager;
  private final Config adminConfig;
  private final KubernetesClient admin;

  private ControlPlane(Path binDir, Path workDir) throws IOException {
    this.binDir = binDir;
    this.workDir = workDir;
    this.pki = new Pki();
    pki.writeTo(workDir.resolve("pki"));
    this.etcdClientPort = freePort();
    this.etcdPeerPort = freePort();
    this.apiServerPort = freePort();
    Path pkiDir = workDir.resolve("pki");
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
    apiServer = new ManagedProcess("kube-apiserver", List.of(
        bin("kube-apiserver").toString(),
        "--etcd-servers=http://127.0.0.1:" + etcdClientPort,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        "--secure-port=" + apiServerPort,
        "--cert-dir=" + workDir.resolve("apiserver-certs"),
        "--tls-cert-file=" + pkiDir.resolve("apiserver.crt"),
        "--tls-private-key-file=" + pkiDir.resolve("apiserver.key"),
        "--client-ca-file=" + pkiDir.resolve("ca.crt"),
        "--authorization-mode=RBAC",
        "--service-account-issuer=" + SERVICE_ACCOUNT_ISSUER,
        "--api-audiences=" + SERVICE_ACCOUNT_ISSUER,
        "--service-account-key-file=" + pkiDir.resolve("sa.pub"),
        "--service-account-signing-key-file=" + pkiDir.resolve("sa.key"),
        "--service-cluster-ip-range=10.0.0.0/24",
        "--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true",
        "--feature-gates=ClusterTrustBundle=true",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1"), workDir.resolve("kube-apiserver.log"));
    this.adminConfig = new ConfigBuilder(Config.empty())
        .withMasterUrl(apiServerUrl())
        .withCaCertData(b64(pki.ca.certificatePem()))
        .withClientCertData(b64(TestCa.toPem(pki.adminCert)))
        .withClientKeyData(b64(TestCa.toPem(pki.adminKey.getPrivate())))
        .withClientKeyAlgo("EC")
        .withRequestTimeout(30_000)
        .withConnectionTimeout(10_000)
        .build();
    this.admin = new KubernetesClientBuilder().withConfig(adminConfig).build();
  }

  /**
   * The control plane of this JVM (etcd and kube-apiserver), started on first use.
   *
   * @throws IllegalStateException with the failing part, its log's tail and the fix, if it cannot start
   */
  public static synchronized ControlPlane shared() {
    if (shared == null) {
      Path dir = binaryDirectory();
      ControlPlane cp;
      Path workDir = null;
      try {
        workDir = Files.createTempDirectory("kube-mtls-control-plane-");
        cp = new ControlPlane(dir, workDir);
      } catch (IOException | RuntimeException e) {
        ManagedProcess.deleteRecursively(workDir);
        if (e instanceof RuntimeException re) {
          throw re;
        }
        throw new UncheckedIOException("could not prepare the control plane's temporary files", (IOException) e);
      }
      Runtime.getRuntime().addShutdownHook(new Thread(cp::shutdown, "kube-mtls-control-plane-stop"));
      cp.startAll();
      shared = cp;
    }
    return shared;
  }

  /** {@link #shared()}, with kube-controller-manager running as well (started on first use). */
  public static synchronized ControlPlane sharedWithControllerManager() {
    ControlPlane cp = shared();
    cp.startControllerManager();
    return cp;
  }

  /** Where the binaries are expected; see {@code scripts/k8s-binaries.sh}. */
  public static Path binaryDirectory() {
    String version = System.getProperty("kube-mtls.k8s.version", DEFAULT_VERSION);
    String cache = System.getenv("KUBE_MTLS_BIN_CACHE");
    Path root = cache != null && !cache.isBlank() ? Paths.get(cache)
        : Paths.get(System.getProperty("user.home"), ".cache", "kube-mtls");
    return root.resolve("k8s").resolve(version + "-linux-amd64");
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
      awaitUp(etcd, () -> healthy("http://127.0.0.1:" + etcdClientPort + "/health"));
      startApiServer();
    } catch (RuntimeException e) {
      shutdown();
      throw new IllegalStateException("The Kubernetes test control plane did not start: " + e.getMessage()
          + "\nBinaries: " + binDir + "\nFix: run scripts/k8s-binaries.sh and check the log above.", e);
    }
    LOG.info("control plane ready at {} in {} ms (etcd on {}, work dir {})", apiServerUrl(),
        (System.nanoTime() - t0) / 1_000_000, etcdClientPort, workDir);
  }

  /** Starts kube-apiserver (again, after {@link #stopApiServer()}) on the same port and data. */
  public synchronized void startApiServer() {
    apiServer.start();
    awaitUp(apiServer, () -> "ok".equals(readyz()));
  }

  /** Stops kube-apiserver; etcd and its data stay, so {@link #startApiServer()} resumes the cluster. */
  public synchronized void stopApiServer() {
    apiServer.stop();
  }

  /** Starts kube-controller-manager with the CSR controllers and the root-CA publisher, if not running. */
  public synchronized void startControllerManager() {
    if (controllerManager != null && controllerManager.isAlive()) {
      return;
    }
    Path pkiDir = workDir.resolve("pki");
    Path kubeconfig = writeAdminKubeconfig();
    int port = freePort();
    controllerManager = new ManagedProcess("kube-controller-manager", List.of(
        bin("kube-controller-manager").toString(),
        "--kubeconfig=" + kubeconfig,
        "--authentication-kubeconfig=" + kubeconfig,
        "--authorization-kubeconfig=" + kubeconfig,
        "--bind-address=127.0.0.1",
        "--secure-port=" + port,
        "--leader-elect=false",
        "--controllers=certificatesigningrequest-signing-controller,certificatesigningrequest-approving-controller,"
            + "certificatesigningrequest-cleaner-controller,root-ca-certificate-publisher-controller",
        "--cluster-signing-cert-file=" + pkiDir.resolve("ca.crt"),
        "--cluster-signing-key-file=" + pkiDir.resolve("ca.key"),
        "--root-ca-file=" + pkiDir.resolve("ca.crt"),
        "--v=1"), workDir.resolve("kube-controller-manager.log"));
    controllerManager.start();
    ManagedProcess kcm = controllerManager;
    awaitUp(kcm, () -> healthy("https://127.0.0.1:" + port + "/healthz"));
  }

  /** The apiserver URL, {@code https://127.0.0.1:<port>}. */
  public String apiServerUrl() {
    return "https://127.0.0.1:" + apiServerPort;
  }

  /** The cluster CA: it signs the apiserver's serving certificate and is the client CA. */
  public String clusterCaPem() {
    return pki.ca.certificatePem();
  }

  /** A client in {@code system:masters}. Shared: do not close it. */
  public KubernetesClient adminClient() {
    return admin;
  }

  /** The admin client's configuration, for building further clients. */
  public Config adminConfig() {
    return new ConfigBuilder(adminConfig).build();
  }

  /** A kubeconfig file (in the control plane's temp dir) for an admin, e.g. for child processes. */
  public synchronized Path writeAdminKubeconfig() {
    Path file = workDir.resolve("admin.kubeconfig");
    if (!Files.exists(file)) {
      Path pkiDir = workDir.resolve("pki");
      writeKubeconfig(file, "user:\n    client-certificate: " + pkiDir.resolve("admin.crt")
          + "\n    client-key: " + pkiDir.resolve("admin.key"));
    }
    return file;
  }

  /**
   * A kubeconfig file authenticating with a ServiceAccount token bound to {@code pod}, for a child
   * process that should act as that workload.
   */
  public Path writeKubeconfigFor(String namespace, String serviceAccount, Pod pod, Duration validity) {
    String token = mintToken(namespace, serviceAccount, pod, validity);
    Path file = workDir.resolve("kubeconfig-" + namespace + "-" + serviceAccount + "-"
        + Integer.toHexString(ThreadLocalRandom.current().nextInt()));
    writeKubeconfig(file, "user:\n    token: " + token);
    return file;
  }

  private void writeKubeconfig(Path file, String user) {
    String text = "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-mtls-test\n  cluster:\n"
        + "    server: " + apiServerUrl() + "\n    certificate-authority: " + workDir.resolve("pki/ca.crt") + "\n"
        + "users:\n- name: user\n  " + user + "\n"
        + "contexts:\n- name: default\n  context:\n    cluster: kube-mtls-test\n    user: user\n    namespace: default\n"
        + "current-context: default\n";
    try {
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Creates a namespace with a unique name starting with {@code prefix}. */
  public String createNamespace(String prefix) {
    return createNamespace(prefix, Map.of());
  }

  /** Creates a namespace with a unique name starting with {@code prefix}, carrying {@code labels}. */
  public String createNamespace(String prefix, Map<String, String> labels) {
    String clean = prefix.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-");
    if (clean.length() > 40) {
      clean = clean.substring(0, 40);
    }
    String name = clean + "-" + NAMESPACES.incrementAndGet() + "-"
        + Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36), 36);
    admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name)
        .withLabels(labels).endMetadata().build()).create();
    return name;
  }

  /** Creates {@code serviceAccount} in {@code namespace} if it does not exist yet. */
  public void ensureServiceAccount(String namespace, String serviceAccount) {
    if (admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount).get() == null) {
      admin.serviceAccounts().inNamespace(namespace).resource(new ServiceAccountBuilder()
          .withNewMetadata().withName(serviceAccount).endMetadata().build()).create();
    }
  }

  /**
   * Creates a Pod object running as {@code serviceAccount} (created if missing) and records
   * {@code podIp} in its status, as a kubelet would. No container runs: there is no kubelet.
   */
  public Pod createPod(String namespace, String podName, String serviceAccount, Map<String, String> labels,
      String podIp) {
    ensureServiceAccount(namespace, serviceAccount);
    Pod pod = admin.pods().inNamespace(namespace).resource(new PodBuilder()
        .withNewMetadata().withName(podName).withLabels(labels).endMetadata()
        .withNewSpec().withServiceAccountName(serviceAccount).withAutomountServiceAccountToken(false)
        .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/app:test").endContainer()
        .endSpec().build()).create();
    if (podIp != null) {
      pod.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running")
          .withPodIP(podIp).withPodIPs(new PodIPBuilder().withIp(podIp).build()).build());
      pod = admin.pods().inNamespace(namespace).resource(pod).updateStatus();
    }
    return pod;
  }

  /** A client acting as {@code namespace/serviceAccount} with a token bound to {@code pod}. */
  public KubernetesClient clientFor(String namespace, String serviceAccount, Pod pod) {
    return clientWithToken(mintToken(namespace, serviceAccount, pod, Duration.ofHours(2)));
  }

  /** A client acting as {@code namespace/serviceAccount} with a token bound to no object. */
  public KubernetesClient clientFor(String namespace, String serviceAccount) {
    ensureServiceAccount(namespace, serviceAccount);
    return clientWithToken(mintToken(namespace, serviceAccount, null, Duration.ofHours(2)));
  }

  /** A client that authenticates with {@code token}. The caller closes it. */
  public KubernetesClient clientWithToken(String token) {
    Config config = new ConfigBuilder(Config.empty())
        .withMasterUrl(apiServerUrl())
        .withCaCertData(b64(pki.ca.certificatePem()))
        .withOauthToken(token)
        .withRequestTimeout(30_000)
        .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  /** Mints a ServiceAccount token with the TokenRequest API, bound to {@code pod} when not null. */
  public String mintToken(String namespace, String serviceAccount, Pod pod, Duration validity) {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(serviceAccount, "serviceAccount");
    TokenRequestBuilder request = new TokenRequestBuilder().withNewSpec()
        .withAudiences(SERVICE_ACCOUNT_ISSUER).withExpirationSeconds(validity.toSeconds()).endSpec();
    if (pod != null) {
      request.editSpec().withNewBoundObjectRef().withApiVersion("v1").withKind("Pod")
          .withName(pod.getMetadata().getName()).withUid(pod.getMetadata().getUid())
          .endBoundObjectRef().endSpec();
    }
    TokenRequest issued = admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount)
        .tokenRequest(request.build());
    return issued.getStatus().getToken();
  }

  private void awaitUp(ManagedProcess process, java.util.concurrent.Callable<Boolean> ready) {
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

  private String readyz() {
    try {
      String body = admin.raw("/readyz");
      return body == null ? null : body.trim();
    } catch (RuntimeException e) {
      return null;
    }
  }

  private boolean healthy(String url) throws Exception {
    var ctx = javax.net.ssl.SSLContext.getInstance("TLS");
    ctx.init(null, new javax.net.ssl.TrustManager[] {new TrustAll()}, null);
    var client = java.net.http.HttpClient.newBuilder().sslContext(ctx).version(java.net.http.HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    var response = client.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url))
        .timeout(Duration.ofSeconds(2)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    return response.statusCode() == 200;
  }

  /** Only for probing the health endpoints of our own loopback child processes. */
  private static final class TrustAll extends javax.net.ssl.X509ExtendedTrustManager {
    @Override public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a) { }
    @Override public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a) { }
    @Override public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a, java.net.Socket s) { }
    @Override public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a, java.net.Socket s) { }
    @Override public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
    @Override public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
    @Override public java.security.cert.X509Certificate[] getAcceptedIssuers() {
      return new java.security.cert.X509Certificate[0];
    }
  }

  private void shutdown() {
    List<ManagedProcess> all = new ArrayList<>();
    if (controllerManager != null) {
      all.add(controllerManager);
    }
    all.add(apiServer);
    all.add(etcd);
    try {
      admin.close();
    } catch (RuntimeException ignored) {
      // shutting down anyway
    }
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

  private static String b64(String text) {
    return java.util.Base64.getEncoder().encodeToString(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
