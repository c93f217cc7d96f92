package dev.kubemtls.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.kubernetes.trust.ClusterTrustBundles;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.RecordingClient;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Workloads of one JVM that follow the same ClusterTrustBundles through the same client share one
 * source: one list and one watch for all of them, each told of the current bundle when it joins and
 * of every change while it holds it; the source stops with its last holder and a later workload
 * starts a new one. Against a real kube-apiserver, as a ServiceAccount with no permission of its own
 * (what the cluster grants every ServiceAccount), through the trust {@link KubeMtls} chooses by
 * default ({@link DiscoveredTrust}).
 */
class SharedTrustIT {

  private static final TestCa CA_ONE = TestCa.create("shared-one");
  private static final TestCa CA_TWO = TestCa.create("shared-two");
  private static final Duration PROMPTLY = Duration.ofSeconds(20);

  private final ControlPlane cp = ControlPlane.shared();
  private final KubernetesClient admin = cp.adminClient();
  private final String version = CertificatesApi.servedVersion(admin, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)
      .orElseThrow(() -> new IllegalStateException("the test control plane serves no ClusterTrustBundles"));
  private final String domain = "shared-" + UUID.randomUUID().toString().substring(0, 8) + ".it.kube-mtls.dev";
  private final String signer = domain + "/workload";
  /** The requests the workload's client sent: "WATCH path" for watches, "METHOD path" otherwise. */
  private final Queue<String> requests = new ConcurrentLinkedQueue<>();
  private final List<MtlsException> problems = new CopyOnWriteArrayList<>();
  private final ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
  private KubernetesClient workload;

  @BeforeEach
  void workload() {
    KubernetesClient token = cp.clientFor(cp.createNamespace("shared-trust"), "workload");
    workload = RecordingClient.of(token, r -> requests.add(r.toString()));
    token.close();
  }

  @AfterEach
  void cleanUp() {
    scheduler.shutdownNow();
    workload.close();
    ClusterTrustBundles.resources(admin, version).withField("spec.signerName", signer).delete();
  }

  private void put(String pem) {
    GenericKubernetesResource ctb = ClusterTrustBundles.newBundle(version, domain + ":workload:a", signer, pem);
    ClusterTrustBundles.resources(admin, version).resource(ctb).forceConflicts().serverSideApply();
  }

  /**
   * The trust a workload started with the default choice follows (ClusterTrustBundles, found by
   * discovery, from the JVM's shared sources), recording the bundles it passes on.
   */
  private DiscoveredTrust follow(List<TrustBundle> seen) {
    DiscoveredTrust trust = new DiscoveredTrust(workload,
        (servedVersion, listener) -> SharedClusterTrustBundles.acquire(workload, signer, servedVersion,
            InstantSource.system(), listener),
        () -> {
          throw new AssertionError("discovery chose the ConfigMap, but the control plane serves ClusterTrustBundles");
        }, scheduler);
    trust.subscribe(new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        seen.add(bundle);
      }

      @Override
      public void onProblem(MtlsException problem) {
        problems.add(problem);
      }
    });
    trust.start();
    return trust;
  }

  private long count(String kind, String what) {
    return requests.stream().filter(r -> r.startsWith(kind + " ") && r.endsWith("/" + what)).count();
  }

  private static List<X509Certificate> last(List<TrustBundle> seen) {
    return seen.isEmpty() ? List.of() : seen.get(seen.size() - 1).certificates();
  }

  @Test
  void workloadsOnOneClientShareOneSourceThatStopsWithItsLastHolder() {
    put(CA_ONE.certificatePem());
    int runningBefore = SharedClusterTrustBundles.running();
    List<TrustBundle> first = new CopyOnWriteArrayList<>();
    List<TrustBundle> second = new CopyOnWriteArrayList<>();
    List<TrustBundle> third = new CopyOnWriteArrayList<>();

    DiscoveredTrust one = follow(first);
    await().atMost(PROMPTLY).until(() -> last(first).equals(List.of(CA_ONE.certificate())));
    // The second joins a source that has its bundle already: it is told at once, without a list of its own.
    DiscoveredTrust two = follow(second);
    await().atMost(PROMPTLY).until(() -> last(second).equals(List.of(CA_ONE.certificate())));
    try {
      assertThat(SharedClusterTrustBundles.running()).isEqualTo(runningBefore + 1);
      assertThat(count("GET", "clustertrustbundles")).as("lists, in %s", requests).isEqualTo(1);
      // The informer tells of the listed bundle before it sends its watch: wait for the watch, then
      // there must be only the one. (A second source would also have listed a second time, above.)
      await().atMost(PROMPTLY).until(() -> count("WATCH", "clustertrustbundles") >= 1);
      assertThat(count("WATCH", "clustertrustbundles")).as("watches, in %s", requests).isEqualTo(1);
      // A stream on the client's HTTP/2 connection, not a WebSocket connection with a TLS handshake of its own.
      assertThat(count("WEBSOCKET", "clustertrustbundles")).as("WebSockets, in %s", requests).isZero();
      // Discovery asked once: the second workload used the first one's answer.
      assertThat(count("GET", "v1")).as("discoveries, in %s", requests).isEqualTo(1);

      // The first leaves; the source goes on for the second, which follows a CA rotation.
      one.close();
      put(CA_TWO.certificatePem() + CA_ONE.certificatePem());
      await().atMost(PROMPTLY).until(() -> last(second).size() == 2);
      assertThat(last(second)).containsExactlyInAnyOrder(CA_ONE.certificate(), CA_TWO.certificate());
      assertThat(last(first)).as("a trust that left hears nothing more").containsExactly(CA_ONE.certificate());
      assertThat(SharedClusterTrustBundles.running()).isEqualTo(runningBefore + 1);
    } finally {
      one.close();
      two.close();
    }
    // The last holder stopped it; the next workload starts a source of its own, which reads the bundles anew.
    assertThat(SharedClusterTrustBundles.running()).isEqualTo(runningBefore);
    DiscoveredTrust three = follow(third);
    try {
      await().atMost(PROMPTLY).until(() -> last(third).size() == 2);
      assertThat(count("GET", "clustertrustbundles")).as("lists, in %s", requests).isEqualTo(2);
      assertThat(count("GET", "v1")).as("discoveries (remembered for the client), in %s", requests).isEqualTo(1);
      assertThat(SharedClusterTrustBundles.running()).isEqualTo(runningBefore + 1);
    } finally {
      three.close();
    }
    assertThat(SharedClusterTrustBundles.running()).isEqualTo(runningBefore);
    assertThat(problems).as("problems reported").isEmpty();
  }
}
