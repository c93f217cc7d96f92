package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.testkit.TestCa;
import dev.kubemtls.kubernetes.CertificatesApi;
import dev.kubemtls.kubernetes.trust.ClusterTrustBundles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.Resource;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Where the cluster serves ClusterTrustBundles ({@code v1} from 1.37, {@code v1beta1} before) the
 * leader publishes the ClusterTrustBundle linked to its
 * signer name, acting with exactly the shipped RBAC ({@link SignerFixture}), repairs it after an
 * admin's edit or deletion, and a workload acting as its ServiceAccount follows it.
 */
class ClusterTrustBundlePublisherIT {

  private static final String NAME = "kube-mtls.dev:workload:ca-bundle";

  private final SignerFixture fx = SignerFixture.get();
  private final String expected = Pem.encodeCertificates(List.of(fx.ca.certificate()));

  private final String version = CertificatesApi.servedVersion(fx.admin, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)
      .orElseThrow();

  private Resource<GenericKubernetesResource> bundle(KubernetesClient client) {
    return ClusterTrustBundles.resources(client, version).withName(NAME);
  }

  private GenericKubernetesResource awaitPublished() {
    return Awaitility.await("ClusterTrustBundle " + NAME + " holds the CA").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50)).until(() -> bundle(fx.admin).get(),
            b -> b != null && expected.equals(ClusterTrustBundles.trustBundle(b)) && b.getMetadata().getLabels() != null
                && TrustBundlePublisher.MANAGED_BY.equals(b.getMetadata().getLabels()
                .get(TrustBundlePublisher.MANAGED_BY_LABEL)));
  }

  @Test
  void theNameFollowsTheApiServersRuleForSignerLinkedBundles() {
    assertThat(ClusterTrustBundlePublisher.bundleName("kube-mtls.dev/workload")).isEqualTo(NAME);
    assertThat(ClusterTrustBundlePublisher.bundleName("example.com/a.b")).isEqualTo("example.com:a.b:ca-bundle");
    assertThatThrownBy(() -> ClusterTrustBundlePublisher.bundleName("no-path"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void publishesWithTheShippedRbacAndTheWorkloadFollowsThroughGarbageAndDeletion() throws Exception {
    fx.awaitLeader();
    GenericKubernetesResource published = awaitPublished();
    assertThat(published.getApiVersion()).isEqualTo(CertificatesApi.apiVersion(
        fx.cp.clusterMinor() >= 37 ? "v1" : "v1beta1"));
    assertThat(ClusterTrustBundles.signerName(published)).isEqualTo(SignerFixture.SIGNER_NAME);

    // A workload acting as its ServiceAccount, with only the shipped workload RBAC.
    SignerFixture.Workload wl = fx.workload("ctb-follow");
    // The same PEM as the bundle ConfigMap in its opted-in namespace.
    String configMapPem = Awaitility.await("the bundle ConfigMap").atMost(Duration.ofSeconds(30))
        .until(() -> fx.admin.configMaps().inNamespace(wl.namespace()).withName(SignerFixture.BUNDLE).get(),
            cm -> cm != null).getData().get("ca.crt");
    assertThat(ClusterTrustBundles.trustBundle(published)).isEqualTo(configMapPem);
    List<MtlsException> problems = new CopyOnWriteArrayList<>();
    List<TrustBundle> bundles = new CopyOnWriteArrayList<>();
    try (ClusterTrustBundleTrustSource source =
        ClusterTrustBundleTrustSource.builder(wl.client(), SignerFixture.SIGNER_NAME).build()) {
      source.subscribe(new TrustSource.Listener() {
        @Override
        public void onBundle(TrustBundle b) {
          bundles.add(b);
        }

        @Override
        public void onProblem(MtlsException problem) {
          problems.add(problem);
        }
      });
      TrustBundle first = source.start().get(30, TimeUnit.SECONDS);
      assertThat(first.certificates()).containsExactly(fx.ca.certificate());
      assertThat(first.sourceVersion()).startsWith(NAME + "@");

      // An admin writes what the API server accepts but no workload should trust: a CA that has
      // expired. The signer puts its bundle back, and the source never trusts the expired CA. (The
      // source reads its informer's cache when told of a change: when the repair is already there,
      // it never sees the garbage; when it does see it, it refuses it and reports why.)
      TestCa expired = TestCa.create("expired", Instant.now().minus(Duration.ofDays(2)), Duration.ofDays(1));
      String before = bundle(fx.admin).get().getMetadata().getResourceVersion();
      bundle(fx.admin).edit(b -> ClusterTrustBundles.withTrustBundle(b, expired.certificatePem()));
      Awaitility.await("the signer repaired the bundle").atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(50)).until(() -> bundle(fx.admin).get(),
              b -> !b.getMetadata().getResourceVersion().equals(before) && expected.equals(ClusterTrustBundles.trustBundle(b)));
      assertThat(source.current().certificates()).containsExactly(fx.ca.certificate());
      assertThat(problems).allSatisfy(p -> assertThat(p).isInstanceOf(InvalidMaterialException.class)
          .hasMessageContaining("every CA of the bundle has expired"));
      assertThat(bundles).allSatisfy(b -> assertThat(b.certificates()).doesNotContain(expired.certificate()));
      awaitPublished();
      Awaitility.await("the repaired bundle is current again").atMost(Duration.ofSeconds(20))
          .until(() -> source.lastProblem().isEmpty());
      assertThat(source.current().certificates()).containsExactly(fx.ca.certificate());

      // Dropping the managed-by label is repaired too.
      bundle(fx.admin).edit(b -> {
        GenericKubernetesResource edited = ClusterTrustBundles.withTrustBundle(b, ClusterTrustBundles.trustBundle(b));
        java.util.Map<String, String> labels = new java.util.HashMap<>(edited.getMetadata().getLabels());
        labels.remove(TrustBundlePublisher.MANAGED_BY_LABEL);
        labels.put("note", "kept");
        edited.getMetadata().setLabels(labels);
        return edited;
      });
      assertThat(awaitPublished().getMetadata().getLabels()).containsEntry("note", "kept");

      // Deleted: the source reports it and keeps its trust, the signer recreates it.
      String uid = bundle(fx.admin).get().getMetadata().getUid();
      int problemsBefore = problems.size();
      int bundlesBefore = bundles.size();
      bundle(fx.admin).delete();
      GenericKubernetesResource recreated = Awaitility.await("recreated").atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(50)).until(() -> bundle(fx.admin).get(),
              b -> b != null && !b.getMetadata().getUid().equals(uid));
      assertThat(ClusterTrustBundles.trustBundle(recreated)).isEqualTo(expected);
      // The source is told of the deletion and the recreation in order, but reads its informer's
      // cache, which may already hold the signer's recreation when the deletion is handled: then it
      // sees no gap at all (as with the garbage above). When it does see the gap it reports it, and
      // hears the same CAs again when they are back, which tells its listeners the problem is over.
      // (ClusterTrustBundleTrustSourceIT proves the deletion report where nobody recreates.)
      Awaitility.await("the source follows the recreated bundle").atMost(Duration.ofSeconds(20))
          .until(() -> source.lastProblem().isEmpty()
              && (problems.size() == problemsBefore || bundles.size() > bundlesBefore));
      assertThat(problems.stream().skip(problemsBefore)).as("problems reported after the deletion")
          .allSatisfy(p -> assertThat(p.getMessage()).contains("there is no ClusterTrustBundle"));
      assertThat(source.current().certificates()).containsExactly(fx.ca.certificate());
      assertThat(bundles).allSatisfy(b -> assertThat(b.certificates()).containsExactly(fx.ca.certificate()));
    }
  }

  @Test
  void aKubeMtlsWorkloadCanTrustTheClusterTrustBundleInsteadOfTheConfigMap() throws Exception {
    fx.awaitLeader();
    awaitPublished();
    SignerFixture.Workload wl = fx.workload("ctb-kubemtls");
    try (KubeMtls tls = KubeMtls.forWorkload(wl.client())
        .identity(WorkloadIdentity.builder(wl.namespace(), "web").podName("web-0").podIp(wl.podIp()).services("web")
            .build())
        .signerName(SignerFixture.SIGNER_NAME).trustClusterTrustBundles().issuanceTimeout(Duration.ofSeconds(30))
        .start()) {
      MtlsMaterial material = tls.awaitReady(Duration.ofSeconds(60));
      assertThat(material.trust().sourceVersion()).startsWith(NAME + "@");
      assertThat(material.trust().certificates()).containsExactly(fx.ca.certificate());
      SignerFixture.validate(material.identity().leaf(), expected);
    }
  }

  @Test
  void theShippedRbacLetsTheSignerAttestOnlyForItsOwnSignerName() {
    try (KubernetesClient signer = fx.cp.clientFor(SignerFixture.SIGNER_NS, "kube-mtls-signer")) {
      GenericKubernetesResource foreign = ClusterTrustBundles.newBundle(version,
          "other.example.com:workload:ca-bundle", "other.example.com/workload", expected);
      assertThatThrownBy(() -> ClusterTrustBundles.resources(signer, version).resource(foreign).create())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      assertThat(ClusterTrustBundles.resources(fx.admin, version).withName(foreign.getMetadata().getName())
          .get()).isNull();
    }
  }

  @Test
  void theSignerFindsTheVersionTheClusterServes() {
    try (KubernetesClient signer = fx.cp.clientFor(SignerFixture.SIGNER_NS, "kube-mtls-signer")) {
      // Discovery is open to every authenticated user: the signer's own RBAC is enough.
      assertThat(ClusterTrustBundlePublisher.requireServed(signer))
          .isEqualTo(fx.cp.clusterMinor() >= 37 ? "v1" : "v1beta1");
    }
  }
}
