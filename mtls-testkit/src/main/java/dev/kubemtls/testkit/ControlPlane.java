package dev.kubemtls.testkit;

import dev.kubemtls.testkit.internal.BackendSelection;
import dev.kubemtls.testkit.internal.ClusterBackend;
import dev.kubemtls.testkit.internal.EmbeddedBackend;
import dev.kubemtls.testkit.internal.K3sBackend;
import dev.kubemtls.testkit.internal.KubeconfigBackend;
import dev.kubemtls.testkit.internal.Kubeconfigs;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Kubernetes control plane for tests. By default it is embedded: etcd and kube-apiserver
 * processes on loopback with the Node and RBAC authorizers and NodeRestriction on, ServiceAccount
 * token issuance (TokenRequest, bound tokens) and the ClusterTrustBundle and PodCertificateRequest
 * APIs as the release serves them (stable {@code certificates.k8s.io/v1} from 1.37, beta
 * {@code v1beta1} switched on before); on request also
 * kube-controller-manager with the CSR signing, approving and cleaning controllers and the root-CA
 * publisher.
 *
 * <p>One control plane serves a whole test JVM ({@link #shared()}); it stops, and its temporary
 * files are removed, when the JVM exits, also after a failure. Tests isolate themselves by working
 * in their own namespace ({@link #createNamespace}). Workloads act as themselves:
 * {@link #clientFor(String, String, Pod)} authenticates with a real ServiceAccount token bound to a
 * Pod, so RBAC and the apiserver-filled requester fields of a CSR are the real ones.
 * {@link HollowNode} adds a real kubelet without a container runtime (kubemark's hollow node) as a
 * Node of the embedded control plane, for tests of what the kubelet writes into Pods' volumes.
 *
 * <p>The same tests can run on another backend, chosen with {@code -Dkube-mtls.control-plane}
 * (or {@code KUBE_MTLS_CONTROL_PLANE}):
 * <ul>
 *   <li>{@code embedded} (default): the binaries come from {@code scripts/k8s-binaries.sh} (which
 *       Maven runs before integration tests), in
 *       {@code ${KUBE_MTLS_BIN_CACHE:-~/.cache/kube-mtls}/k8s/<version>-linux-amd64/};</li>
 *   <li>{@code k3s}: a k3s server in a container started by Testcontainers, for machines with a
 *       Docker engine; the image is {@code -Dkube-mtls.k3s.image}, by default
 *       {@code rancher/k3s:v<version>-k3s1};</li>
 *   <li>{@code kubeconfig}: an existing cluster, named by {@code -Dkube-mtls.kubeconfig} (never by
 *       {@code KUBECONFIG}), whose user is a cluster admin. Namespaces the tests created are
 *       deleted when the JVM exits; cluster-scoped objects (RBAC, CSRs) stay, so use a throwaway
 *       cluster.</li>
 * </ul>
 * Only the embedded control plane can stop its apiserver ({@link #stopApiServer()}); on the others
 * the tests that need it fail, saying so. {@link #connect(Path)} gives a control plane over any
 * cluster without changing the shared one.
 *
 * <p>If the control plane cannot start, {@link #shared()} throws with the failing part, the tail
 * of its log and what to do; tests never skip.
 */
public final class ControlPlane implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ControlPlane.class);

  /**
   * The Kubernetes release the tests use unless {@code -Dkube-mtls.k8s.version} says otherwise: the
   * parent pom's {@code kube-mtls.k8s.version}, the one place it is set (the build writes it into
   * the test kit's resources, and {@code scripts/k8s-binaries.sh} reads it from the pom).
   */
  public static final String DEFAULT_VERSION = BackendSelection.bundledKubernetesVersion();

  /** The issuer and audience of ServiceAccount tokens of the embedded control plane, as in a default cluster. */
  public static final String SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

  /** The scheduling gate on test Pods: no scheduler places them, so no kubelet overwrites their status. */
  public static final String TEST_POD_SCHEDULING_GATE = "kube-mtls.dev/test-pod";

  private static final Duration K3S_START_TIMEOUT = Duration.ofMinutes(4);
  private static final AtomicInteger NAMESPACES = new AtomicInteger();
  private static ControlPlane shared;

  private final ClusterBackend backend;
  private final Config adminConfig;
  private final KubernetesClient admin;
  private final Set<String> namespaces = ConcurrentHashMap.newKeySet();

  private ControlPlane(ClusterBackend backend) {
    this.backend = backend;
    this.adminConfig = backend.adminConfig();
    this.admin = new KubernetesClientBuilder().withConfig(adminConfig).build();
  }

  /**
   * The control plane of this JVM, started (or connected) on first use, on the backend
   * {@code -Dkube-mtls.control-plane} chooses.
   *
   * @throws IllegalStateException with the failing part, its log's tail and the fix, if it cannot start
   * @throws IllegalArgumentException if the backend setting is not valid
   */
  public static synchronized ControlPlane shared() {
    if (shared == null) {
      String version = kubernetesVersion();
      BackendSelection selection = BackendSelection.fromSystem(version);
      ClusterBackend backend = switch (selection.kind()) {
        case EMBEDDED -> EmbeddedBackend.start(binaryDirectory(), version, SERVICE_ACCOUNT_ISSUER);
        case K3S -> startK3s(selection.k3sImage());
        case KUBECONFIG -> KubeconfigBackend.connect(selection.kubeconfig());
      };
      ControlPlane cp = new ControlPlane(backend);
      Runtime.getRuntime().addShutdownHook(new Thread(cp::close, "kube-mtls-control-plane-stop"));
      LOG.info("test control plane: {}", backend.description());
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

  /**
   * A control plane over the existing cluster of {@code kubeconfig} (its current context), whose
   * user must be a cluster admin; the caller closes it, which deletes the namespaces it created.
   * The cluster's own kube-controller-manager serves {@link #startControllerManager()}.
   *
   * @throws IllegalStateException if the cluster does not answer or the user is not an admin
   */
  public static ControlPlane connect(Path kubeconfig) {
    return new ControlPlane(KubeconfigBackend.connect(kubeconfig));
  }

  /**
   * A control plane on a new k3s container from {@code image} (a {@code rancher/k3s} image),
   * started by Testcontainers; the caller closes it, which removes the container.
   *
   * @throws IllegalStateException if there is no Docker engine, or k3s does not start (with its log's tail)
   */
  public static ControlPlane k3s(String image) {
    return new ControlPlane(startK3s(image));
  }

  private static ClusterBackend startK3s(String image) {
    BackendSelection.requireTestcontainers();
    return K3sBackend.start(image, K3S_START_TIMEOUT);
  }

  /**
   * The k3s image the tests use: {@code -Dkube-mtls.k3s.image} (or {@code KUBE_MTLS_K3S_IMAGE})
   * when set and not blank, else {@code rancher/k3s:v<version>-k3s1}.
   */
  public static String k3sImage() {
    return BackendSelection.parse(
        name -> BackendSelection.PROPERTY.equals(name) ? "k3s" : BackendSelection.systemSetting(name),
        kubernetesVersion()).k3sImage();
  }

  /** Where the embedded backend expects its binaries; see {@code scripts/k8s-binaries.sh}. */
  public static Path binaryDirectory() {
    String cache = System.getenv("KUBE_MTLS_BIN_CACHE");
    Path root = cache != null && !cache.isBlank() ? Paths.get(cache)
        : Paths.get(System.getProperty("user.home"), ".cache", "kube-mtls");
    return root.resolve("k8s").resolve(kubernetesVersion() + "-linux-amd64");
  }

  /**
   * The Kubernetes release of this run: {@code -Dkube-mtls.k8s.version}, else the environment
   * variable {@code KUBE_MTLS_K8S_VERSION}, else {@link #DEFAULT_VERSION}.
   */
  public static String kubernetesVersion() {
    String property = System.getProperty("kube-mtls.k8s.version");
    if (property != null && !property.isBlank()) {
      return property.trim();
    }
    String env = System.getenv("KUBE_MTLS_K8S_VERSION");
    return env != null && !env.isBlank() ? env.trim() : DEFAULT_VERSION;
  }

  /** The minor release of this run's Kubernetes, e.g. 37 for 1.37.2. */
  public static int kubernetesMinor() {
    return EmbeddedBackend.minor(kubernetesVersion());
  }

  /**
   * The minor release of the running cluster as its API server reports it (e.g. 37 for
   * v1.37.2), whatever backend serves it.
   */
  public int clusterMinor() {
    String minor = admin.getKubernetesVersion().getMinor();
    return Integer.parseInt(minor.replaceAll("[^0-9].*$", ""));
  }

  /** What this control plane is, e.g. {@code "embedded etcd and kube-apiserver at https://127.0.0.1:41234 ..."}. */
  public String description() {
    return backend.description();
  }

  /**
   * Starts kube-apiserver again after {@link #stopApiServer()}, on the same port and data.
   *
   * @throws UnsupportedOperationException unless this is the embedded control plane
   */
  public void startApiServer() {
    backend.startApiServer();
  }

  /**
   * Stops kube-apiserver; etcd and its data stay, so {@link #startApiServer()} resumes the cluster.
   *
   * @throws UnsupportedOperationException unless this is the embedded control plane
   */
  public void stopApiServer() {
    backend.stopApiServer();
  }

  /**
   * Makes sure kube-controller-manager with the CSR controllers and the root-CA publisher runs:
   * the embedded control plane starts one; k3s and other clusters run their own.
   */
  public void startControllerManager() {
    backend.startControllerManager();
  }

  /**
   * Starts kube-controller-manager with only {@code controllers} (e.g.
   * {@code certificatesigningrequest-signing-controller}) and {@code extraFlags} (e.g.
   * {@code --kube-api-qps=1000}), signing with the cluster CA: for benchmarks that compare against
   * it. Does nothing if one already runs.
   *
   * @throws UnsupportedOperationException unless this is the embedded control plane
   */
  public void startControllerManager(List<String> controllers, List<String> extraFlags) {
    backend.startControllerManager(List.copyOf(controllers), List.copyOf(extraFlags));
  }

  /** The apiserver URL, e.g. {@code https://127.0.0.1:<port>}. */
  public String apiServerUrl() {
    return backend.apiServerUrl();
  }

  /**
   * The CA that verifies the apiserver's serving certificate, as PEM. In the embedded control
   * plane it is also the client CA and kube-controller-manager's signing CA.
   *
   * @throws IllegalStateException if the kubeconfig of this cluster names no CA
   */
  public String clusterCaPem() {
    String pem = backend.clusterCaPem();
    if (pem == null) {
      throw new IllegalStateException("the kubeconfig of the " + backend.description()
          + " names no certificate authority; add certificate-authority-data to it");
    }
    return pem;
  }

  /** A cluster-admin client. Shared: do not close it. */
  public KubernetesClient adminClient() {
    return admin;
  }

  /** The admin client's configuration, for building further clients. */
  public Config adminConfig() {
    return new ConfigBuilder(adminConfig).build();
  }

  /** A kubeconfig file for an admin, e.g. for child processes. */
  public Path writeAdminKubeconfig() {
    return backend.adminKubeconfig();
  }

  /**
   * A kubeconfig file authenticating with a ServiceAccount token bound to {@code pod}, for a child
   * process that should act as that workload.
   */
  public Path writeKubeconfigFor(String namespace, String serviceAccount, Pod pod, Duration validity) {
    String token = mintToken(namespace, serviceAccount, pod, validity);
    Path file = backend.workDir().resolve("kubeconfig-" + namespace + "-" + serviceAccount + "-"
        + Integer.toHexString(ThreadLocalRandom.current().nextInt()));
    Kubeconfigs.write(file, apiServerUrl(), backend.clusterCaPem(), Boolean.TRUE.equals(adminConfig.getTrustCerts()),
        "token: " + token);
    return file;
  }

  /**
   * A kubeconfig file authenticating as the kubelet of {@code nodeName}: a client certificate for
   * {@code system:node:<nodeName>} in {@code system:nodes}, issued by the cluster CA, so the Node
   * authorizer and NodeRestriction treat its holder as that node (see {@link HollowNode}).
   *
   * @throws UnsupportedOperationException unless this is the embedded control plane
   * @throws IllegalArgumentException if {@code nodeName} is not a DNS label
   */
  public Path writeNodeKubeconfig(String nodeName) {
    return backend.nodeKubeconfig(Objects.requireNonNull(nodeName, "nodeName"));
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
    namespaces.add(name);
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
   * {@code podIp} in its status, as a kubelet would. No container runs: the Pod carries the
   * scheduling gate {@link #TEST_POD_SCHEDULING_GATE}, so even on a cluster with nodes no
   * scheduler places it and no kubelet overwrites its status.
   */
  public Pod createPod(String namespace, String podName, String serviceAccount, Map<String, String> labels,
      String podIp) {
    ensureServiceAccount(namespace, serviceAccount);
    Pod pod = admin.pods().inNamespace(namespace).resource(new PodBuilder()
        .withNewMetadata().withName(podName).withLabels(labels).endMetadata()
        .withNewSpec().withServiceAccountName(serviceAccount).withAutomountServiceAccountToken(false)
        .addNewSchedulingGate().withName(TEST_POD_SCHEDULING_GATE).endSchedulingGate()
        .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/app:test").endContainer()
        .endSpec().build()).create();
    if (podIp != null) {
      pod.setStatus(new PodStatusBuilder().withPhase("Running")
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
        .withCaCertData(adminConfig.getCaCertData())
        .withCaCertFile(adminConfig.getCaCertFile())
        .withTrustCerts(Boolean.TRUE.equals(adminConfig.getTrustCerts()))
        .withOauthToken(token)
        .withRequestTimeout(30_000)
        .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  /**
   * Mints a ServiceAccount token with the TokenRequest API, bound to {@code pod} when not null, for
   * the apiserver's own audience.
   */
  public String mintToken(String namespace, String serviceAccount, Pod pod, Duration validity) {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(serviceAccount, "serviceAccount");
    TokenRequestBuilder request = new TokenRequestBuilder().withNewSpec()
        .withExpirationSeconds(validity.toSeconds()).endSpec();
    if (pod != null) {
      request.editSpec().withNewBoundObjectRef().withApiVersion("v1").withKind("Pod")
          .withName(pod.getMetadata().getName()).withUid(pod.getMetadata().getUid())
          .endBoundObjectRef().endSpec();
    }
    TokenRequest issued = admin.serviceAccounts().inNamespace(namespace).withName(serviceAccount)
        .tokenRequest(request.build());
    return issued.getStatus().getToken();
  }

  /**
   * Closes this control plane: for a cluster that outlives the tests, deletes the namespaces
   * created through it; then stops what the backend started and removes its temporary files.
   * The shared control plane is closed when the JVM exits.
   */
  @Override
  public void close() {
    try {
      if (backend.clusterOutlivesTests()) {
        for (String ns : namespaces) {
          try {
            admin.namespaces().withName(ns).delete();
          } catch (RuntimeException e) {
            LOG.warn("could not delete the test namespace {}: {}", ns, e.toString());
          }
        }
      }
      admin.close();
    } catch (RuntimeException ignored) {
      // closing anyway
    } finally {
      backend.close();
    }
  }
}
