package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.rotation.CertificateManager;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.TestCa;
import dev.kubemtls.kubernetes.CertificatesApi;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ClusterTrustBundleTrustSource} against a real kube-apiserver with the ClusterTrustBundle
 * API, reading as a ServiceAccount that has no permission of its own: what the cluster grants every
 * ServiceAccount must be enough.
 */
class ClusterTrustBundleTrustSourceIT {

  private static final TestCa CA_ONE = TestCa.create("ctb-one");
  private static final TestCa CA_TWO = TestCa.create("ctb-two");
  private static final TestCa OTHER = TestCa.create("ctb-other-signer");
  private static final Duration PROMPTLY = Duration.ofSeconds(20);

  private final ControlPlane cp = ControlPlane.shared();
  private final KubernetesClient admin = cp.adminClient();
  // v1 from Kubernetes 1.37, v1beta1 before: the source must find and follow either.
  private final String version = CertificatesApi.servedVersion(admin, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)
      .orElseThrow();
  // A signer name of its own, so that no other test's bundles are seen.
  private final String domain = "ctb-" + UUID.randomUUID().toString().substring(0, 8) + ".it.kube-mtls.dev";
  private final String signer = domain + "/workload";
  private final String prefix = domain + ":workload:";
  private KubernetesClient workload;
  private ClusterTrustBundleTrustSource source;
  private final RecordingTrustListener recorded = new RecordingTrustListener();
  private final List<TrustBundle> bundles = recorded.bundles;
  private final List<MtlsException> problems = recorded.problems;

  @BeforeEach
  void workloadWithNoRbacOfItsOwn() {
    workload = cp.clientFor(cp.createNamespace("ctb-source"), "workload");
  }

  @AfterEach
  void close() {
    if (source != null) {
      source.close();
    }
    if (workload != null) {
      workload.close();
    }
    ClusterTrustBundles.resources(admin, version).withField("spec.signerName", signer).delete();
  }

  private ClusterTrustBundleTrustSource follow(ClusterTrustBundleTrustSource.Builder builder) {
    source = builder.build();
    source.subscribe(recorded);
    return source;
  }

  private void put(String signerName, String name, String pem, Map<String, String> labels) {
    GenericKubernetesResource ctb = ClusterTrustBundles.newBundle(version, name, signerName, pem);
    ctb.getMetadata().setLabels(labels);
    ClusterTrustBundles.resources(admin, version).resource(ctb).forceConflicts().serverSideApply();
  }

  private void put(String suffix, String pem) {
    put(signer, prefix + suffix, pem, Map.of());
  }

  @Test
  void followsTheUnionOfTheSignersBundlesAndKeepsTheLastGoodOneThroughGarbageAndDeletion() throws Exception {
    put("a", CA_ONE.certificatePem());
    // Another signer's bundle, and an unlinked one: never read.
    String otherDomain = "other-" + domain;
    put(otherDomain + "/workload", otherDomain + ":workload:a", OTHER.certificatePem(), Map.of());
    put("", "unlinked-" + domain.replace('.', '-'), OTHER.certificatePem(), Map.of());
    try {
      TrustBundle first = follow(ClusterTrustBundleTrustSource.builder(workload, signer)).start()
          .get(30, TimeUnit.SECONDS);
      assertThat(first.certificates()).containsExactly(CA_ONE.certificate());
      assertThat(first.sourceVersion()).startsWith(prefix + "a@");

      // A second bundle of the same signer joins the union.
      put("b", CA_TWO.certificatePem() + CA_ONE.certificatePem());
      await().atMost(PROMPTLY).until(() -> source.current().certificates().size() == 2);
      assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate(), CA_TWO.certificate());
      assertThat(source.current().sourceVersion()).contains(prefix + "a@").contains(prefix + "b@");
      int bundlesSoFar = bundles.size();

      // The API server refuses text that is not PEM CA certificates but accepts an expired CA:
      // it is left out and named, the other bundle's CA stays trusted.
      TestCa expired = TestCa.create("ctb-expired", Instant.now().minus(Duration.ofDays(2)), Duration.ofDays(1));
      put("b", expired.certificatePem());
      await().atMost(PROMPTLY).until(() -> source.current().certificates().equals(List.of(CA_ONE.certificate())));
      assertThat(source.current().ignored()).singleElement().asString().contains(prefix + "b").contains("expired");

      // Garbage an admin can write: only expired CAs left. Refused, the previous trust stays.
      put("a", expired.certificatePem());
      await().atMost(PROMPTLY).until(() -> !problems.isEmpty());
      assertThat(problems.get(0)).isInstanceOf(InvalidMaterialException.class)
          .hasMessageContaining("every CA of the bundle has expired")
          .hasMessageContaining("keeping the previous trust bundle");
      assertThat(source.lastProblem()).isPresent();
      assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate());

      // Every bundle deleted: reported, kept.
      int problemsSoFar = problems.size();
      ClusterTrustBundles.resources(admin, version).withName(prefix + "a").delete();
      ClusterTrustBundles.resources(admin, version).withName(prefix + "b").delete();
      await().atMost(PROMPTLY).until(() -> problems.stream().skip(problemsSoFar)
          .anyMatch(p -> p.getMessage().contains("there is no ClusterTrustBundle with signerName " + signer)));
      assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate());

      // Recreated: followed, the problem is over.
      put("c", CA_TWO.certificatePem());
      await().atMost(PROMPTLY).until(() -> source.current().certificates().equals(List.of(CA_TWO.certificate())));
      assertThat(source.lastProblem()).isEmpty();
      assertThat(source.current().sourceVersion()).startsWith(prefix + "c@");
      assertThat(bundles.size()).isGreaterThan(bundlesSoFar);
      assertThat(bundles).allSatisfy(b -> assertThat(b.certificates()).doesNotContain(OTHER.certificate()));
    } finally {
      ClusterTrustBundles.resources(admin, version).withName(otherDomain + ":workload:a").delete();
      ClusterTrustBundles.resources(admin, version).withName("unlinked-" + domain.replace('.', '-')).delete();
    }
  }

  @Test
  void aLabelSelectorNarrowsTheBundlesFollowed() throws Exception {
    put(signer, prefix + "current", CA_ONE.certificatePem(), Map.of("kube-mtls.dev/set", "current"));
    put(signer, prefix + "next", CA_TWO.certificatePem(), Map.of("kube-mtls.dev/set", "next"));
    TrustBundle first = follow(ClusterTrustBundleTrustSource.builder(workload, signer)
        .labelSelector(Map.of("kube-mtls.dev/set", "current"))).start().get(30, TimeUnit.SECONDS);
    assertThat(first.certificates()).containsExactly(CA_ONE.certificate());
    assertThat(first.sourceVersion()).startsWith(prefix + "current@").doesNotContain("next");
  }

  @Test
  void aManagerFollowingTheBundlesPublishesANewSnapshotPromptly() throws Exception {
    put("a", CA_ONE.certificatePem());
    follow(ClusterTrustBundleTrustSource.builder(workload, signer)).start().get(30, TimeUnit.SECONDS);
    java.util.concurrent.ScheduledExecutorService scheduler =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
    try (CertificateManager manager = CertificateManager.builder()
        .issuer(generation -> {
          java.security.KeyPair kp = TestCa.newKeyPair();
          return new TlsIdentity(kp.getPrivate(), List.of(CA_ONE.leaf(kp.getPublic()).dns("svc").build()), generation);
        })
        .trust(source).scheduler(scheduler).build()) {
      MtlsMaterial first = manager.start().get(30, TimeUnit.SECONDS);
      assertThat(first.trust().certificates()).containsExactly(CA_ONE.certificate());
      put("a", CA_ONE.certificatePem() + CA_TWO.certificatePem());
      await().atMost(PROMPTLY).until(() -> manager.current().trust().certificates().size() == 2);
      assertThat(manager.current().generation()).isGreaterThan(first.generation());
    } finally {
      scheduler.shutdownNow();
    }
  }
}
