package dev.kubemtls.signer;

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
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundleBuilder;
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
 * With {@code --cluster-trust-bundle=true} the leader publishes the ClusterTrustBundle linked to its
 * signer name, acting with exactly the shipped RBAC ({@link SignerFixture}), repairs it after an
 * admin's edit or deletion, and a workload acting as its ServiceAccount follows it.
 */
class ClusterTrustBundlePublisherIT {

  private static final String NAME = "kube-mtls.dev:workload:ca-bundle";

  private final SignerFixture fx = SignerFixture.get();
  private final String expected = Pem.encodeCertificates(List.of(fx.ca.certificate()));

  private Resource<ClusterTrustBundle> bundle(KubernetesClient client) {
    return client.certificates().v1beta1().clusterTrustBundles().withName(NAME);
  }

  private ClusterTrustBundle awaitPublished() {
    return Awaitility.await("ClusterTrustBundle " + NAME + " holds the CA").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50)).until(() -> bundle(fx.admin).get(),
            b -> b != null && expected.equals(b.getSpec().getTrustBundle()) && b.getMetadata().getLabels() != null
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
    ClusterTrustBundle published = awaitPublished();
    assertThat(published.getSpec().getSignerName()).isEqualTo(SignerFixture.SIGNER_NAME);

    // A workload acting as its ServiceAccount, with only the shipped workload RBAC.
    SignerFixture.Workload wl = fx.workload("ctb-follow");
    // The same PEM as the bundle ConfigMap in its opted-in namespace.
    String configMapPem = Awaitility.await("the bundle ConfigMap").atMost(Duration.ofSeconds(30))
        .until(() -> fx.admin.configMaps().inNamespace(wl.namespace()).withName(SignerFixture.BUNDLE).get(),
            cm -> cm != null).getData().get("ca.crt");
    assertThat(published.getSpec().getTrustBundle()).isEqualTo(configMapPem);
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
      // expired. The source refuses it and keeps the CA; the signer puts its bundle back.
      TestCa expired = TestCa.create("expired", Instant.now().minus(Duration.ofDays(2)), Duration.ofDays(1));
      bundle(fx.admin).edit(b -> new ClusterTrustBundleBuilder(b).editSpec()
          .withTrustBundle(expired.certificatePem()).endSpec().build());
      Awaitility.await("the source reports the garbage").atMost(Duration.ofSeconds(20))
          .until(() -> problems.stream().anyMatch(p -> p instanceof InvalidMaterialException
              && p.getMessage().contains("every CA of the bundle has expired")));
      assertThat(source.current().certificates()).containsExactly(fx.ca.certificate());
      awaitPublished();
      Awaitility.await("the repaired bundle is current again").atMost(Duration.ofSeconds(20))
          .until(() -> source.lastProblem().isEmpty());
      assertThat(source.current().certificates()).containsExactly(fx.ca.certificate());

      // Dropping the managed-by label is repaired too.
      bundle(fx.admin).edit(b -> new ClusterTrustBundleBuilder(b).editMetadata()
          .removeFromLabels(TrustBundlePublisher.MANAGED_BY_LABEL).addToLabels("note", "kept").endMetadata().build());
      assertThat(awaitPublished().getMetadata().getLabels()).containsEntry("note", "kept");

      // Deleted: the source reports it and keeps its trust, the signer recreates it.
      String uid = bundle(fx.admin).get().getMetadata().getUid();
      int problemsBefore = problems.size();
      int bundlesBefore = bundles.size();
      bundle(fx.admin).delete();
      ClusterTrustBundle recreated = Awaitility.await("recreated").atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(50)).until(() -> bundle(fx.admin).get(),
              b -> b != null && !b.getMetadata().getUid().equals(uid));
      assertThat(recreated.getSpec().getTrustBundle()).isEqualTo(expected);
      Awaitility.await("the source saw the deletion").atMost(Duration.ofSeconds(20))
          .until(() -> problems.stream().skip(problemsBefore)
              .anyMatch(p -> p.getMessage().contains("there is no ClusterTrustBundle")));
      // Same CAs as before: listeners hear the bundle again, which tells them the problem is over.
      Awaitility.await("the source follows the recreated bundle").atMost(Duration.ofSeconds(20))
          .until(() -> source.lastProblem().isEmpty() && bundles.size() > bundlesBefore);
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
      ClusterTrustBundle foreign = new ClusterTrustBundleBuilder().withNewMetadata()
          .withName("other.example.com:workload:ca-bundle").endMetadata().withNewSpec()
          .withSignerName("other.example.com/workload").withTrustBundle(expected).endSpec().build();
      assertThatThrownBy(() -> signer.certificates().v1beta1().clusterTrustBundles().resource(foreign).create())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      assertThat(fx.admin.certificates().v1beta1().clusterTrustBundles().withName(foreign.getMetadata().getName())
          .get()).isNull();
    }
  }

  @Test
  void theFlagNeedsTheApiAndSaysHowToEnableIt() {
    try (KubernetesClient signer = fx.cp.clientFor(SignerFixture.SIGNER_NS, "kube-mtls-signer")) {
      ClusterTrustBundlePublisher.requireServed(signer);
      // A version the API server does not serve stands for a cluster without the beta API.
      assertThatThrownBy(() -> ClusterTrustBundlePublisher.requireServed(signer, "certificates.k8s.io/v1alpha9"))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("--cluster-trust-bundle=true")
          .hasMessageContaining("--feature-gates=ClusterTrustBundle=true")
          .hasMessageContaining("--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true");
    }
  }
}
