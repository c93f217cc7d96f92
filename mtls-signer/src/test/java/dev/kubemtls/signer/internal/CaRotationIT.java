package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.kubernetes.trust.TrustBundles;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * A full CA rotation on the real control plane while a workload keeps renewing: the new CA is
 * trusted before it signs, signs only after the propagation delay (also across a change of leader
 * in the middle of the rotation), and the old CA leaves the bundle only after the longest
 * certificate it signed has expired. The ClusterTrustBundle of the signer name changes together with
 * the bundle ConfigMap, and a workload following it sees A, then A and B, then B. The signer acts
 * with a copy of the shipped RBAC ({@code deploy/signer-rbac.yaml}, names changed so it does not
 * meet the other tests' signer).
 */
class CaRotationIT {

  private static final String SIGNER = "kube-mtls.dev/rotation-test";
  private static final String NS = "kube-mtls-rotation";
  private static final String LABEL = "kube-mtls.dev/rotation-test";
  private static final Duration TTL = Duration.ofSeconds(20);
  private static final Duration PROPAGATION = Duration.ofSeconds(8);
  private static final Duration MARGIN = Duration.ofSeconds(2);

  /** What the signers did, in order, with the time they did it. */
  record Signed(Instant at, X509Certificate certificate) {}

  record Renewal(Instant at, MtlsMaterial previous, MtlsMaterial current) {}

  private final List<Signed> signed = new CopyOnWriteArrayList<>();
  private final List<CaRotation.Change> changes = new CopyOnWriteArrayList<>();
  private final List<Renewal> renewals = new CopyOnWriteArrayList<>();
  private final List<String> invalidSnapshots = new CopyOnWriteArrayList<>();
  private final List<Double> scheduledFractions = new CopyOnWriteArrayList<>();
  private final List<TrustBundle> ctbBundles = new CopyOnWriteArrayList<>();

  @Test
  void rotatesWithOverlapAcrossALeaderChangeWhileAWorkloadKeepsRenewing() throws Exception {
    SignerFixture fx = SignerFixture.get(); // the workload ClusterRoles from deploy/
    ControlPlane cp = fx.cp;
    KubernetesClient admin = fx.admin;
    CertificateAuthority caA = freshCa(admin, "rotation CA A");

    KubernetesClient signerClient = cp.clientFor(NS, "kube-mtls-signer");
    Signer first = Signer.startFromSecret(signerClient, config("rotation-1"), listener());
    KubeMtls workload = null;
    ClusterTrustBundleTrustSource ctbSource = null;
    KubernetesClient ctbClient = null;
    Signer second = null;
    try {
      awaitLeaderWithStoredPlan(first, admin);
      assertThat(storedState(admin).getData()).as("a steady plan copies no key out of the CA Secret")
          .containsKey("signing.crt").doesNotContainKeys("signing.key", "pending.key");

      String wl = cp.createNamespace("rotation-wl", Map.of(LABEL, "true"));
      Pod pod = cp.createPod(wl, "web-0", "web", Map.of("app", "web"), "10.99.0.7");
      admin.services().inNamespace(wl).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
          .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
      fx.bindWorkload(wl, "web");
      workload = KubeMtls.forWorkload(cp.clientFor(wl, "web", pod))
          .identity(WorkloadIdentity.builder(wl, "web").podName("web-0").podIp("10.99.0.7").services("web").build())
          .signerName(SIGNER).trustConfigMap().issuanceTimeout(Duration.ofSeconds(30)).listener(recorder()).start();
      MtlsMaterial initial = workload.awaitReady(Duration.ofSeconds(60));
      assertThat(issuer(initial)).isEqualTo(caA.certificate().getSubjectX500Principal());
      ctbClient = cp.clientFor(wl, "web", pod);
      ctbSource = ClusterTrustBundleTrustSource.builder(ctbClient, SIGNER).build();
      ctbSource.subscribe(ctbBundles::add);
      assertThat(ctbSource.start().get(30, TimeUnit.SECONDS).certificates()).containsExactly(caA.certificate());

      // The operator writes a new CA: it is trusted at once, next to the old one.
      CertificateAuthority caB = Signer.writeNewCa(admin, NS, "kube-mtls-ca", Duration.ofDays(1));
      String wlNs = wl;
      Awaitility.await("the bundle holds A and B").atMost(Duration.ofSeconds(20))
          .until(() -> subjects(TrustBundles.read(admin, wlNs, "kube-mtls-ca-bundle")),
              s -> s.equals(List.of(caA.certificate().getSubjectX500Principal().getName(),
                  caB.certificate().getSubjectX500Principal().getName())));
      KubeMtls w = workload;
      Awaitility.await("the workload trusts A and B").atMost(Duration.ofSeconds(20))
          .until(() -> w.current().trust().certificates().size() == 2);
      assertThat(ctbPem(admin)).as("the ClusterTrustBundle holds A and B, as the ConfigMap")
          .isEqualTo(admin.configMaps().inNamespace(wl).withName("kube-mtls-ca-bundle").get().getData().get("ca.crt"));
      ClusterTrustBundleTrustSource ctb = ctbSource;
      Awaitility.await("the ClusterTrustBundle follower trusts A and B").atMost(Duration.ofSeconds(20))
          .until(() -> java.util.Set.copyOf(ctb.current().certificates())
              .equals(java.util.Set.of(caA.certificate(), caB.certificate())));

      // The leader goes away in the middle of the propagation; a new one resumes the stored plan.
      Instant switchAt = storedSwitchTime(admin);
      first.close();
      second = Signer.startFromSecret(signerClient, config("rotation-2"), listener());
      Signer s2 = second;
      Awaitility.await("second signer leads").atMost(Duration.ofSeconds(30)).until(s2::isLeader);
      assertThat(storedSwitchTime(admin)).as("the new leader keeps the planned switch time").isEqualTo(switchAt);

      // The workload renews onto B after the switch, and A leaves the bundle after its last certificate expired.
      Awaitility.await("the workload holds a certificate from B").atMost(Duration.ofSeconds(60))
          .until(() -> issuer(w.current()).equals(caB.certificate().getSubjectX500Principal()));
      Awaitility.await("A leaves the bundle").atMost(TTL.plus(MARGIN).plus(PROPAGATION).plusSeconds(40))
          .until(() -> w.current().trust().certificates().size() == 1);
      assertThat(w.current().trust().certificates()).containsExactly(caB.certificate());
      Instant retiredAt = Instant.now();
      assertThat(storedState(admin).getData()).as("after the switch no key is kept beside the CA Secret's")
          .doesNotContainKeys("signing.key", "pending.key");
      Awaitility.await("A leaves the ClusterTrustBundle").atMost(Duration.ofSeconds(20))
          .until(() -> ctb.current().certificates().equals(List.of(caB.certificate())));
      assertThat(ctbPem(admin)).isEqualTo(dev.kubemtls.core.pki.Pem.encodeCertificates(List.of(caB.certificate())));
      // (The order of the CAs in the bundle may change when a new leader takes over; what is trusted may not.)
      List<java.util.Set<X509Certificate>> trusted = new java.util.ArrayList<>();
      for (TrustBundle b : ctbBundles) {
        java.util.Set<X509Certificate> set = java.util.Set.copyOf(b.certificates());
        if (trusted.isEmpty() || !trusted.get(trusted.size() - 1).equals(set)) {
          trusted.add(set);
        }
      }
      assertThat(trusted).as("A, then A and B, then B").containsExactly(java.util.Set.of(caA.certificate()),
          java.util.Set.of(caA.certificate(), caB.certificate()), java.util.Set.of(caB.certificate()));

      // At least five renewals, each on schedule, while all of this happened.
      Awaitility.await("five renewals").atMost(Duration.ofSeconds(120)).until(() -> renewals.size() >= 5);

      // The new CA signed nothing before its planned switch; the old CA nothing after it.
      Instant switchTolerance = switchAt.minusMillis(500);
      for (Signed s : signed) {
        boolean byB = s.certificate().getIssuerX500Principal().equals(caB.certificate().getSubjectX500Principal());
        if (byB) {
          assertThat(s.at()).as("B signs only after the propagation delay").isAfter(switchTolerance);
        } else {
          assertThat(s.at()).as("A signs only until the switch").isBefore(switchAt.plusSeconds(2));
          // ...and A stayed trusted until every certificate it signed had expired.
          assertThat(retiredAt).isAfter(s.certificate().getNotAfter().toInstant());
        }
      }
      assertThat(changes).containsSubsequence(CaRotation.Change.STARTED, CaRotation.Change.SWITCHED,
          CaRotation.Change.RETIRED);
      // Each renewal was planned inside the 70-90% window of the certificate it replaces. (When it
      // completes also depends on the signer: one that falls into the leader change above waits for
      // the new leader, which is why completion times are not held to the window.)
      assertThat(scheduledFractions).hasSizeGreaterThanOrEqualTo(5)
          .allSatisfy(f -> assertThat(f).as("planned renewal point").isBetween(0.7, 0.9));
      for (Renewal r : renewals) {
        assertThat(r.current().identity().leaf().getSerialNumber())
            .isNotEqualTo(r.previous().identity().leaf().getSerialNumber());
        assertThat(r.current().identity().generation()).isGreaterThan(r.previous().identity().generation());
      }
      assertThat(invalidSnapshots).as("every published snapshot chains to its own trust bundle").isEmpty();
    } finally {
      if (ctbSource != null) {
        ctbSource.close();
        ctbClient.close();
      }
      if (workload != null) {
        workload.close();
      }
      first.close();
      if (second != null) {
        second.close();
      }
    }
  }

  private SignerConfig config(String identity) {
    return SignerConfig.builder(SIGNER).caSecret(NS, "kube-mtls-ca").namespaceLabel(LABEL + "=true")
        .validity(TTL, TTL, Duration.ofSeconds(1))
        .lease(NS, "kube-mtls-signer", identity)
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .caRotation(PROPAGATION, MARGIN).clusterTrustBundle(true).build();
  }

  private SignerListener listener() {
    return new SignerListener() {
      @Override
      public void issued(String csrName, X509Certificate certificate) {
        signed.add(new Signed(Instant.now(), certificate));
      }

      @Override
      public void caRotation(CaRotation.Change change, CaRotation state) {
        changes.add(change);
      }
    };
  }

  private ManagerListener recorder() {
    return new ManagerListener() {
      @Override
      public void ready(MtlsMaterial material) {
        check(material);
      }

      @Override
      public void rotated(MtlsMaterial previous, MtlsMaterial current) {
        renewals.add(new Renewal(Instant.now(), previous, current));
        check(current);
      }

      @Override
      public void renewalScheduled(dev.kubemtls.core.TlsIdentity identity, Instant at) {
        long lifetime = identity.notAfter().toEpochMilli() - identity.notBefore().toEpochMilli();
        scheduledFractions.add((at.toEpochMilli() - identity.notBefore().toEpochMilli()) / (double) lifetime);
      }

      @Override
      public void trustChanged(TrustBundle previous, TrustBundle current) {
        // The manager publishes a snapshot with the new trust; its identity must chain to it.
      }

      private void check(MtlsMaterial m) {
        try {
          SignerFixture.validate(m.identity().leaf(), dev.kubemtls.core.pki.Pem.encodeCertificates(m.trust().certificates()));
        } catch (Exception e) {
          invalidSnapshots.add(m.generation() + ": " + e.getMessage());
        }
      }
    };
  }

  @Test
  void aCaChangedWhileNoSignerRanSignsAtOnceWithTheFormerCaStillTrusted() throws Exception {
    SignerFixture fx = SignerFixture.get();
    ControlPlane cp = fx.cp;
    KubernetesClient admin = fx.admin;
    CertificateAuthority caA = freshCa(admin, "offline CA A");
    KubernetesClient signerClient = cp.clientFor(NS, "kube-mtls-signer");
    Signer first = Signer.startFromSecret(signerClient, config("offline-1"), listener());
    Signer second = null;
    KubeMtls workload = null;
    try {
      awaitLeaderWithStoredPlan(first, admin);
      first.close();

      // No signer runs while the operator replaces the CA; the state Secret holds no copy of A's key.
      CertificateAuthority caB = Signer.writeNewCa(admin, NS, "kube-mtls-ca", Duration.ofDays(1));
      second = Signer.startFromSecret(signerClient, config("offline-2"), listener());
      Signer s2 = second;
      Awaitility.await("second signer leads").atMost(Duration.ofSeconds(30)).until(s2::isLeader);

      String wl = cp.createNamespace("offline-wl", Map.of(LABEL, "true"));
      // (The ConfigMap may not exist yet at the first look: the signer creates it when it sees the namespace.)
      Awaitility.await("the bundle holds B and, retiring, A").atMost(Duration.ofSeconds(20))
          .ignoreException(dev.kubemtls.core.InvalidMaterialException.class)
          .until(() -> subjects(TrustBundles.read(admin, wl, "kube-mtls-ca-bundle")),
              subjects -> subjects.equals(List.of(caB.certificate().getSubjectX500Principal().getName(),
                  caA.certificate().getSubjectX500Principal().getName())));
      Secret state = storedState(admin);
      assertThat(state.getData()).containsKeys("signing.crt", "retiring.crt", "retiring.until")
          .doesNotContainKeys("signing.key", "pending.key", "pending.crt");
      assertThat(dev.kubemtls.core.pki.Pem.certificates(new String(Base64.getDecoder().decode(
          state.getData().get("retiring.crt")), StandardCharsets.US_ASCII), "retiring.crt"))
          .containsExactly(caA.certificate());

      Pod pod = cp.createPod(wl, "web-0", "web", Map.of("app", "web"), "10.99.0.8");
      admin.services().inNamespace(wl).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
          .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
      fx.bindWorkload(wl, "web");
      workload = KubeMtls.forWorkload(cp.clientFor(wl, "web", pod))
          .identity(WorkloadIdentity.builder(wl, "web").podName("web-0").podIp("10.99.0.8").services("web").build())
          .signerName(SIGNER).issuanceTimeout(Duration.ofSeconds(30)).start();
      MtlsMaterial material = workload.awaitReady(Duration.ofSeconds(60));
      assertThat(issuer(material)).as("B signs at once").isEqualTo(caB.certificate().getSubjectX500Principal());
      assertThat(material.trust().certificates()).containsExactlyInAnyOrder(caA.certificate(), caB.certificate());
    } finally {
      if (workload != null) {
        workload.close();
      }
      first.close();
      if (second != null) {
        second.close();
      }
    }
  }

  private static Secret storedState(KubernetesClient admin) {
    return admin.secrets().inNamespace(NS).withName(CaKeeper.stateSecretName("kube-mtls-ca")).get();
  }

  /** The signer's RBAC, and a new CA Secret holding a new CA, with no plan stored from an earlier test. */
  private static CertificateAuthority freshCa(KubernetesClient admin, String name) throws Exception {
    installSignerRbac(admin);
    for (String secret : List.of("kube-mtls-ca", CaKeeper.stateSecretName("kube-mtls-ca"))) {
      admin.secrets().inNamespace(NS).withName(secret).withTimeout(20, TimeUnit.SECONDS).delete();
    }
    CertificateAuthority ca = CertificateAuthority.generate(name, Duration.ofDays(1), ValidityPolicy.DEFAULT,
        java.time.InstantSource.system(), new java.security.SecureRandom());
    admin.secrets().inNamespace(NS).resource(ca.toSecret(NS, "kube-mtls-ca")).create();
    return ca;
  }

  private static void awaitLeaderWithStoredPlan(Signer signer, KubernetesClient admin) {
    Awaitility.await("the signer leads").atMost(Duration.ofSeconds(30)).until(signer::isLeader);
    Awaitility.await("its plan is stored").atMost(Duration.ofSeconds(10)).until(() -> storedState(admin) != null);
  }

  private static Instant storedSwitchTime(KubernetesClient admin) {
    Secret state = storedState(admin);
    assertThat(state).as("the rotation state Secret").isNotNull();
    assertThat(state.getData()).containsKeys("signing.crt", "pending.crt", "switch-at", "signing.key")
        .as("the pending CA's key stays in the CA Secret only").doesNotContainKey("pending.key");
    return Instant.parse(new String(Base64.getDecoder().decode(state.getData().get("switch-at")),
        StandardCharsets.US_ASCII).strip());
  }

  private static String ctbPem(KubernetesClient admin) {
    String version = dev.kubemtls.kubernetes.CertificatesApi.servedVersion(admin,
        dev.kubemtls.kubernetes.CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE).orElseThrow();
    return dev.kubemtls.kubernetes.trust.ClusterTrustBundles.trustBundle(dev.kubemtls.kubernetes.trust.ClusterTrustBundles
        .resources(admin, version).withName(ClusterTrustBundlePublisher.bundleName(SIGNER)).get());
  }

  private static javax.security.auth.x500.X500Principal issuer(MtlsMaterial m) {
    return m.identity().leaf().getIssuerX500Principal();
  }

  private static List<String> subjects(TrustBundle bundle) {
    return bundle.certificates().stream().map(c -> c.getSubjectX500Principal().getName()).toList();
  }

  /** The shipped signer RBAC, for this test's namespace and signer name. */
  private static void installSignerRbac(KubernetesClient admin) throws Exception {
    if (admin.namespaces().withName(NS).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build()).create();
    }
    try (InputStream in = Files.newInputStream(Path.of("deploy", "signer-rbac.yaml"))) {
      for (HasMetadata item : admin.load(in).items()) {
        if (item instanceof ClusterRole role) {
          role.getMetadata().setName(role.getMetadata().getName() + "-rotation-test");
          for (PolicyRule rule : role.getRules()) {
            if (rule.getResources().contains("signers")) {
              rule.setResourceNames(List.of(SIGNER));
            }
            if (rule.getResources().contains("clustertrustbundles") && !rule.getResourceNames().isEmpty()) {
              rule.setResourceNames(List.of(ClusterTrustBundlePublisher.bundleName(SIGNER)));
            }
          }
        } else if (item instanceof ClusterRoleBinding binding) {
          binding.getMetadata().setName(binding.getMetadata().getName() + "-rotation-test");
          binding.getRoleRef().setName(binding.getRoleRef().getName() + "-rotation-test");
          binding.getSubjects().forEach(s -> s.setNamespace(NS));
        } else {
          item.getMetadata().setNamespace(NS);
          if (item instanceof RoleBinding binding) {
            binding.getSubjects().forEach(s -> s.setNamespace(NS));
          }
        }
        admin.resource(item).forceConflicts().serverSideApply();
      }
    }
  }
}
