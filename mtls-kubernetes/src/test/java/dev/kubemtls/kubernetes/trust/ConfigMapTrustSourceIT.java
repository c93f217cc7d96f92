package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.pki.BundleSignatures;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.rotation.CertificateManager;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ConfigMapTrustSource} against a real kube-apiserver, reading as a ServiceAccount that may
 * only get, list and watch ConfigMaps in its own namespace.
 */
class ConfigMapTrustSourceIT {

  private static final String CM = "kube-mtls-ca";
  private static final TestCa CA_ONE = TestCa.create("ca-one");
  private static final TestCa CA_TWO = TestCa.create("ca-two");
  private static final Duration PROMPTLY = Duration.ofSeconds(20);

  private final ControlPlane cp = ControlPlane.shared();
  private final KubernetesClient admin = cp.adminClient();
  private String ns;
  private KubernetesClient workload;
  private ConfigMapTrustSource source;
  private final RecordingTrustListener recorded = new RecordingTrustListener();
  private final List<TrustBundle> bundles = recorded.bundles;
  private final List<MtlsException> problems = recorded.problems;

  @BeforeEach
  void workloadWithLeastPrivilege() {
    ns = cp.createNamespace("trust-source");
    admin.rbac().roles().inNamespace(ns).resource(new RoleBuilder().withNewMetadata().withName("read-ca").endMetadata()
        .addNewRule().withApiGroups("").withResources("configmaps").withVerbs("get", "list", "watch").endRule()
        .build()).create();
    admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder()
        .withNewMetadata().withName("workload-reads-ca").endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("Role").withName("read-ca").endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withName("workload").withNamespace(ns).endSubject()
        .build()).create();
    workload = cp.clientFor(ns, "workload");
  }

  @AfterEach
  void close() {
    if (source != null) {
      source.close();
    }
    if (workload != null) {
      workload.close();
    }
  }

  /** Follows the ConfigMap without the signature check: these tests are about following it. */
  private ConfigMapTrustSource follow(KubernetesClient client) {
    return follow(ConfigMapTrustSource.builder(client, ns, CM).requireSignature(false));
  }

  private ConfigMapTrustSource follow(ConfigMapTrustSource.Builder builder) {
    source = builder.build();
    source.subscribe(recorded);
    return source;
  }

  /** Writes {@code pem} with a signature by {@code signers}, signed at {@code at}. */
  private void putSigned(String pem, java.time.Instant at, TestCa... signers) {
    List<BundleSignatures.Signer> keys = java.util.Arrays.stream(signers)
        .map(ca -> new BundleSignatures.Signer(ca.certificate(), ca.keyPair().getPrivate())).toList();
    ConfigMap cm = new ConfigMapBuilder().withNewMetadata().withName(CM).endMetadata()
        .addToData(ConfigMapTrustSource.DEFAULT_KEY, pem)
        .addToData("ca.crt.sig", BundleSignatures.sign(pem, keys, at)).build();
    admin.configMaps().inNamespace(ns).resource(cm).forceConflicts().serverSideApply();
  }

  @Test
  void bySignatureABundleIsTakenOnlyWhenACaAlreadyTrustedSignedIt() throws Exception {
    TestCa foreign = TestCa.create("foreign");
    java.time.Instant t0 = java.time.Instant.now();
    putSigned(CA_ONE.certificatePem(), t0, CA_ONE);
    follow(ConfigMapTrustSource.builder(workload, ns, CM));
    var first = source.start();
    assertThat(source.requiresSignature()).isTrue();
    // Nothing vouches yet: the bundle waits, with no problem reported.
    assertThat(first).isNotDone();
    // The chain the signer wrote for this workload's own certificate vouches for CA_ONE.
    KeyPair kp = TestCa.newKeyPair();
    source.vouch(List.of(CA_ONE.leaf(kp.getPublic()).dns("svc").build()));
    assertThat(first.get(30, TimeUnit.SECONDS).certificates()).containsExactly(CA_ONE.certificate());
    assertThat(problems).isEmpty();

    // A rotation: CA_ONE and CA_TWO, signed by both; CA_ONE is trusted, so it is taken.
    putSigned(CA_ONE.certificatePem() + CA_TWO.certificatePem(), t0.plusSeconds(1), CA_ONE, CA_TWO);
    await().atMost(PROMPTLY).until(() -> source.current().certificates().size() == 2);

    // A CA appended by someone who may write the ConfigMap, the signature left as it was: refused.
    ConfigMap signed = admin.configMaps().inNamespace(ns).withName(CM).get();
    admin.configMaps().inNamespace(ns).withName(CM).edit(cm -> new ConfigMapBuilder(cm)
        .addToData(ConfigMapTrustSource.DEFAULT_KEY, cm.getData().get("ca.crt") + foreign.certificatePem()).build());
    await().atMost(PROMPTLY).until(() -> problems.size() == 1);
    assertThat(problems.get(0)).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("holds no valid signature by a CA this workload already trusts")
        .hasMessageContaining("keeping the previous trust bundle");
    // Signed by the foreign CA itself: refused. Unsigned: refused.
    putSigned(CA_ONE.certificatePem() + foreign.certificatePem(), t0.plusSeconds(2), foreign);
    await().atMost(PROMPTLY).until(() -> problems.size() == 2);
    admin.configMaps().inNamespace(ns).withName(CM).edit(cm -> new ConfigMapBuilder(cm)
        .removeFromData("ca.crt.sig").build());
    await().atMost(PROMPTLY).until(() -> problems.size() == 3);
    assertThat(problems.get(2)).hasMessageContaining("is missing: the bundle is not signed");
    // An older bundle the signer once signed, put back: refused.
    putSigned(CA_ONE.certificatePem(), t0.minusSeconds(60), CA_ONE);
    await().atMost(PROMPTLY).until(() -> problems.size() == 4);
    assertThat(problems.get(3)).hasMessageContaining("an older bundle put back");
    assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate(), CA_TWO.certificate());

    // The rotation finishes: CA_TWO alone, signed by CA_TWO, which is trusted now.
    putSigned(CA_TWO.certificatePem(), t0.plusSeconds(3), CA_TWO);
    await().atMost(PROMPTLY).until(() -> source.current().certificates().equals(List.of(CA_TWO.certificate())));
    assertThat(bundles.stream().flatMap(b -> b.certificates().stream())).doesNotContain(foreign.certificate());
    assertThat(signed.getData()).containsKey("ca.crt.sig");
  }

  @Test
  void aForgedVersionIsJudgedAndReportedEvenWhenItsRepairIsCachedBeforeItsEventIsHandled() throws Exception {
    TestCa foreign = TestCa.create("foreign");
    java.time.Instant t0 = java.time.Instant.now();
    putSigned(CA_ONE.certificatePem(), t0, CA_ONE);
    follow(ConfigMapTrustSource.builder(workload, ns, CM).anchors(List.of(CA_ONE.certificate())));
    CountDownLatch holding = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    // Holds the informer's event thread in the rotation's callback, so that the forged version and
    // its repair are both in the cache before the forged version's event is handled.
    source.subscribe(new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        if (bundle.certificates().size() == 2) {
          holding.countDown();
          try {
            release.await(60, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      }

      @Override
      public void onProblem(MtlsException problem) {}
    });
    source.start().get(30, TimeUnit.SECONDS);
    String rotation = CA_ONE.certificatePem() + CA_TWO.certificatePem();
    try (var repaired = new ResourceVersionSeen(admin, ns, CM)) {
      putSigned(rotation, t0.plusSeconds(1), CA_ONE, CA_TWO);
      assertThat(holding.await(30, TimeUnit.SECONDS)).as("the rotation reached the listener").isTrue();
      admin.configMaps().inNamespace(ns).withName(CM).edit(cm -> new ConfigMapBuilder(cm)
          .addToData(ConfigMapTrustSource.DEFAULT_KEY, rotation + foreign.certificatePem()).build());
      putSigned(rotation, t0.plusSeconds(2), CA_ONE, CA_TWO);
      repaired.awaitSent(admin.configMaps().inNamespace(ns).withName(CM).get().getMetadata().getResourceVersion());
    } finally {
      release.countDown();
    }
    await().atMost(PROMPTLY).until(() -> !problems.isEmpty());
    assertThat(problems.get(0)).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("holds no valid signature by a CA this workload already trusts");
    await().atMost(PROMPTLY).until(() -> source.current().certificates().size() == 2);
    assertThat(bundles.stream().flatMap(b -> b.certificates().stream())).doesNotContain(foreign.certificate());
  }

  /** A watch of the ConfigMap by another client, to wait until a version has been sent to watchers. */
  private static final class ResourceVersionSeen implements AutoCloseable {
    private final Set<String> seen = ConcurrentHashMap.newKeySet();
    private final Watch watch;

    ResourceVersionSeen(KubernetesClient client, String ns, String name) {
      watch = client.configMaps().inNamespace(ns).withName(name).watch(new Watcher<>() {
        @Override
        public void eventReceived(Action action, ConfigMap resource) {
          seen.add(resource.getMetadata().getResourceVersion());
        }

        @Override
        public void onClose(WatcherException cause) {}
      });
    }

    void awaitSent(String resourceVersion) {
      await("resourceVersion " + resourceVersion + " sent to watchers").atMost(PROMPTLY)
          .until(() -> seen.contains(resourceVersion));
    }

    @Override
    public void close() {
      watch.close();
    }
  }

  @Test
  void aPinnedAnchorVouchesWithoutACertificateOfItsOwn() throws Exception {
    putSigned(CA_TWO.certificatePem() + CA_ONE.certificatePem(), java.time.Instant.now(), CA_ONE);
    TrustBundle first = follow(ConfigMapTrustSource.builder(workload, ns, CM).anchors(List.of(CA_ONE.certificate())))
        .start().get(30, TimeUnit.SECONDS);
    assertThat(first.certificates()).containsExactly(CA_TWO.certificate(), CA_ONE.certificate());
  }

  private void put(String pem) {
    ConfigMap cm = new ConfigMapBuilder().withNewMetadata().withName(CM).endMetadata()
        .addToData(ConfigMapTrustSource.DEFAULT_KEY, pem).build();
    admin.configMaps().inNamespace(ns).resource(cm).serverSideApply();
  }

  @Test
  void followsUpdatesKeepsTheLastGoodBundleThroughGarbageAndDeletionAndFollowsARecreation() throws Exception {
    put(CA_ONE.certificatePem());
    TrustBundle first = follow(workload).start().get(30, TimeUnit.SECONDS);
    assertThat(first.certificates()).containsExactly(CA_ONE.certificate());
    assertThat(first.sourceVersion()).startsWith(ns + "/" + CM + "@");

    // A new valid bundle is passed on promptly. (The source makes a bundle current, then tells its
    // listeners: wait for the listener, which comes last.)
    put(CA_ONE.certificatePem() + CA_TWO.certificatePem());
    await().atMost(PROMPTLY)
        .until(() -> !bundles.isEmpty() && bundles.get(bundles.size() - 1).certificates().size() == 2);
    assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate(), CA_TWO.certificate());
    assertThat(bundles).last().extracting(TrustBundle::certificates).asList()
        .containsExactly(CA_ONE.certificate(), CA_TWO.certificate());
    int bundlesSoFar = bundles.size();

    // Garbage: reported, the previous bundle stays.
    put("this is not PEM");
    await().atMost(PROMPTLY).until(() -> problems.size() == 1);
    assertThat(problems.get(0)).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining(ns + "/" + CM).hasMessageContaining("keeping the previous trust bundle");
    assertThat(source.lastProblem()).isPresent();

    // A leaf certificate is not a CA.
    KeyPair kp = TestCa.newKeyPair();
    put(TestCa.toPem(CA_ONE.leaf(kp.getPublic()).dns("x").build()));
    await().atMost(PROMPTLY).until(() -> problems.size() == 2);
    assertThat(problems.get(1)).hasMessageContaining("is not a CA");

    // An empty bundle.
    put("");
    await().atMost(PROMPTLY).until(() -> problems.size() == 3);
    assertThat(problems.get(2)).hasMessageContaining("empty");
    assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate(), CA_TWO.certificate());
    assertThat(bundles).hasSize(bundlesSoFar);

    // Deleted: reported, kept.
    admin.configMaps().inNamespace(ns).withName(CM).delete();
    await().atMost(PROMPTLY).until(() -> problems.size() == 4);
    assertThat(problems.get(3)).hasMessageContaining("was deleted");
    assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate(), CA_TWO.certificate());

    // Recreated: followed.
    put(CA_TWO.certificatePem());
    await().atMost(PROMPTLY).until(() -> bundles.size() > bundlesSoFar);
    assertThat(source.current().certificates()).containsExactly(CA_TWO.certificate());
    assertThat(source.lastProblem()).isEmpty();
    assertThat(bundles).hasSize(bundlesSoFar + 1);
    assertThat(bundles).last().extracting(TrustBundle::certificates).asList().containsExactly(CA_TWO.certificate());
  }

  @Test
  void aManagerFollowingTheConfigMapPublishesANewSnapshotPromptly() throws Exception {
    put(CA_ONE.certificatePem());
    follow(workload).start().get(30, TimeUnit.SECONDS);
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (CertificateManager manager = CertificateManager.builder()
        .issuer(generation -> {
          KeyPair kp = TestCa.newKeyPair();
          return new TlsIdentity(kp.getPrivate(), List.of(CA_ONE.leaf(kp.getPublic()).dns("svc").build()), generation);
        })
        .trust(source).scheduler(scheduler).build()) {
      MtlsMaterial first = manager.start().get(30, TimeUnit.SECONDS);
      assertThat(first.trust().certificates()).containsExactly(CA_ONE.certificate());

      put(CA_TWO.certificatePem() + CA_ONE.certificatePem());
      await().atMost(PROMPTLY).until(() -> manager.current().generation() == 2);
      assertThat(manager.current().trust().certificates()).containsExactly(CA_TWO.certificate(), CA_ONE.certificate());
      assertThat(manager.current().identity()).isSameAs(first.identity());

      // A bundle without the current identity's CA is held, not used.
      put(CA_TWO.certificatePem());
      await().atMost(PROMPTLY).until(() -> manager.status().heldTrust().isPresent());
      assertThat(manager.current().generation()).isEqualTo(2);
      assertThat(manager.status().lastTrustProblem()).isPresent();
    } finally {
      scheduler.shutdownNow();
    }
  }

  @Test
  void followsAnUpdateMadeRightAfterTheApiServerComesBack() throws Exception {
    put(CA_ONE.certificatePem());
    follow(workload).start().get(30, TimeUnit.SECONDS);

    cp.stopApiServer();
    try {
      assertThat(source.current().certificates()).containsExactly(CA_ONE.certificate());
    } finally {
      cp.startApiServer();
    }
    // The watch was dropped; the update lands before or after it is re-established, and the
    // informer's relist or the new watch must deliver it either way.
    put(CA_TWO.certificatePem());
    await().atMost(Duration.ofSeconds(90)).until(
        () -> source.current().certificates().equals(List.of(CA_TWO.certificate())));
  }

  @Test
  void aWorkloadWithoutReadAccessGetsAProblemNotABundle() {
    try (KubernetesClient stranger = cp.clientFor(ns, "stranger")) {
      put(CA_ONE.certificatePem());
      follow(stranger).start();
      await().atMost(PROMPTLY).until(() -> !problems.isEmpty());
      assertThat(problems.get(0)).hasMessageContaining("get, list and watch on configmaps");
      assertThat(source.currentIfReady()).isEmpty();
      source.close();
    }
  }
}
