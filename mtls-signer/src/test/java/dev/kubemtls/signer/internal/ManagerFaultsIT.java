package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The certificate manager under faults, on the real control plane with a real signer: the API
 * server going away, the signer going away, a broken trust bundle, a denial and a clock jump.
 *
 * <p>The signer here is dedicated to these tests so that the shared {@link SignerFixture} is not
 * disturbed: its own signerName, CA Secret and Lease in namespace {@value #SIGNER_NS}, and its own
 * namespace opt-in label. It acts with the control plane's admin client (RBAC of the signer is
 * covered by {@link SignerIT}); the workloads act as their own ServiceAccount, bound to the
 * ClusterRoles of {@code deploy/workload-rbac.yaml}. The signer issues for at most {@link #TTL}, so
 * renewals come within seconds. Workload clients do not retry failed HTTP requests (fabric8 retries
 * a refused connection for about 20 s by default, longer than a certificate lives here).
 */
@Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
class ManagerFaultsIT {

  static final String SIGNER = "kube-mtls.dev/faults-test";
  static final String SIGNER_NS = "kube-mtls-faults";
  static final String CA_SECRET = "faults-ca";
  static final String OPT_IN = "kube-mtls.dev/faults-bundle";
  static final String BUNDLE = "kube-mtls-ca-bundle";
  static final Duration TTL = Duration.ofSeconds(30);

  /** Renew early in the lifetime (9-12 s of 30 s), so a fault has room to play out before expiry. */
  static final RotationPolicy EARLY = RotationPolicy.builder().renewalWindow(0.3, 0.4)
      .backoff(Duration.ofMillis(500), Duration.ofSeconds(2)).denialBackoff(Duration.ofSeconds(3))
      .minimumRenewalDelay(Duration.ofSeconds(1)).build();

  private static final AtomicInteger REPLICAS = new AtomicInteger();
  private static final AtomicInteger POD_IPS = new AtomicInteger(10);

  static ControlPlane cp;
  static KubernetesClient admin;
  static String caPem;
  /** The CA's key, to sign a bundle by hand as the signer would (the signed ConfigMap's check). */
  static CertificateAuthority caAuthority;
  static final List<Signer> replicas = new CopyOnWriteArrayList<>();
  private final List<AutoCloseable> closeAfter = new ArrayList<>();

  @BeforeAll
  static void signer() {
    cp = ControlPlane.shared();
    admin = cp.adminClient();
    if (admin.namespaces().withName(SIGNER_NS).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(SIGNER_NS).endMetadata()
          .build()).create();
    }
    apply(Path.of("deploy", "workload-rbac.yaml"));
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls faults IT CA", Duration.ofDays(30),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(SIGNER_NS).resource(ca.toSecret(SIGNER_NS, CA_SECRET)).forceConflicts()
        .serverSideApply();
    caPem = ca.certificatePem();
    caAuthority = ca;
    startReplica();
  }

  @AfterAll
  static void stopSigners() {
    replicas.forEach(Signer::close);
  }

  @AfterEach
  void closeWorkloads() throws Exception {
    for (AutoCloseable c : closeAfter) {
      c.close();
    }
  }

  static Signer startReplica() {
    SignerConfig config = SignerConfig.builder(SIGNER)
        .caSecret(SIGNER_NS, CA_SECRET)
        .namespaceLabel(OPT_IN + "=true")
        .validity(TTL, TTL, Duration.ofSeconds(1))
        .lease(SIGNER_NS, "faults-signer", "faults-" + REPLICAS.incrementAndGet())
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .build();
    Signer signer = Signer.startFromSecret(admin, config, SignerListener.NONE);
    replicas.add(signer);
    return signer;
  }

  // ---- a. the API server goes away during a renewal ----

  @Test
  void apiServerDownDuringRenewalKeepsServingThenRenews() throws Exception {
    Events events = new Events();
    KubeMtls tls = workload("faults-api", EARLY, Duration.ofSeconds(5), events, InstantSource.system());
    MtlsMaterial first = tls.awaitReady(Duration.ofSeconds(60));
    BigInteger firstSerial = first.identity().leaf().getSerialNumber();
    Instant renewalAt = await("the first renewal to be scheduled", Duration.ofSeconds(10))
        .until(() -> tls.manager().status().nextAttempt().orElse(null), at -> at != null);

    // Stop it just before the renewal is due, so that the renewal runs into the outage.
    await("the renewal to be near", Duration.ofSeconds(20))
        .until(() -> !Instant.now().isBefore(renewalAt.minusMillis(800)));
    boolean up = true;
    try {
      cp.stopApiServer();
      up = false;
      // The renewal starts (9-12 s into the certificate) and fails without the API server, again
      // and again, with growing delays; the first certificate is served all along.
      await("two failed renewals", Duration.ofSeconds(30)).until(() -> events.failures.size() >= 2);
      assertThat(Instant.now()).isAfterOrEqualTo(renewalAt.minusMillis(1));
      Failure f1 = events.failures.get(0);
      Failure f2 = events.failures.get(1);
      assertThat(f1.attempt()).isEqualTo(1);
      assertThat(f2.attempt()).isEqualTo(2);
      // Backoffs of 0.25-0.5 s, then 0.5-1 s, bracketed so that a late listener cannot matter (see Events).
      assertThat(Duration.between(f1.at(), f1.next())).isLessThanOrEqualTo(Duration.ofMillis(510));
      assertThat(Duration.between(renewalAt, f1.next())).isGreaterThanOrEqualTo(Duration.ofMillis(240));
      assertThat(Duration.between(f2.at(), f2.next())).isLessThanOrEqualTo(Duration.ofMillis(1010));
      assertThat(Duration.between(f1.next(), f2.next())).isGreaterThanOrEqualTo(Duration.ofMillis(490));
      assertThat(tls.current()).isSameAs(first);
      assertThat(tls.isReady()).isTrue();
      assertThat(tls.timeToExpiry().orElseThrow()).isPositive();
      CertificateManager.Status status = tls.manager().status();
      assertThat(status.state()).isEqualTo(CertificateManager.State.READY);
      assertThat(status.consecutiveFailures()).isGreaterThanOrEqualTo(2);
      assertThat(status.lastError()).isPresent();
      assertThat(events.rotations).isEmpty();
    } finally {
      if (!up) {
        cp.startApiServer();
      }
    }

    MtlsMaterial renewed = await("a renewal once the API server is back", Duration.ofSeconds(30))
        .until(tls::current, m -> m.generation() > first.generation());
    assertThat(renewed.identity().leaf().getSerialNumber()).isNotEqualTo(firstSerial);
    assertThat(renewed.identity().notAfter()).isAfter(first.identity().notAfter());
    assertThat(renewed.trust().certificates()).isEqualTo(first.trust().certificates());
    assertThat(first.identity().notAfter()).isAfter(Instant.now()); // renewed before the old one expired
    assertThat(events.expired).isEmpty();
    assertThat(tls.manager().status().consecutiveFailures()).isZero();
    assertThat(tls.lastError()).isEmpty();
  }

  // ---- b. the signer goes away ----

  @Test
  void signerDownTimesOutWithBackoffThenANewReplicaSigns() throws Exception {
    Events events = new Events();
    KubeMtls tls = workload("faults-signer", EARLY, Duration.ofSeconds(2), events, InstantSource.system());
    MtlsMaterial first = tls.awaitReady(Duration.ofSeconds(60));
    Signer leader = awaitLeader();
    leader.close();
    replicas.remove(leader);

    await("two timed-out renewals", Duration.ofSeconds(40)).until(() -> events.failures.size() >= 2);
    assertThat(events.failures).allSatisfy(f -> assertThat(f.error()).isInstanceOf(IssuanceTimeoutException.class));
    assertThat(events.failures.get(1).attempt()).isEqualTo(2);
    // The second backoff is 0.5-1 s, bracketed so that a late listener cannot matter (see Events).
    assertThat(Duration.between(events.failures.get(1).at(), events.failures.get(1).next()))
        .isLessThanOrEqualTo(Duration.ofMillis(1010));
    assertThat(Duration.between(events.failures.get(0).next(), events.failures.get(1).next()))
        .isGreaterThanOrEqualTo(Duration.ofMillis(490));
    assertThat(((IssuanceTimeoutException) events.failures.get(0).error()).stage())
        .isEqualTo(IssuanceTimeoutException.Stage.APPROVAL);
    assertThat(tls.current()).isSameAs(first);
    assertThat(tls.isReady()).isTrue();

    startReplica();
    MtlsMaterial renewed = await("a renewal signed by the new replica", Duration.ofSeconds(40))
        .until(tls::current, m -> m.generation() > first.generation());
    assertThat(renewed.identity().leaf().getSerialNumber()).isNotEqualTo(first.identity().leaf().getSerialNumber());
    assertThat(first.identity().notAfter()).isAfter(Instant.now());
    assertThat(events.expired).isEmpty();
    assertThat(tls.lastError()).isEmpty();
  }

  // ---- c. the trust bundle is broken, then deleted ----

  @Test
  void brokenAndDeletedBundleKeepsTrustThenFollowsTheRecreatedOne() throws Exception {
    Events events = new Events();
    // Renew late: this test is about trust, and the signer is down for part of it.
    RotationPolicy late = RotationPolicy.builder().renewalWindow(0.85, 0.9)
        .backoff(Duration.ofMillis(500), Duration.ofSeconds(2)).minimumRenewalDelay(Duration.ofSeconds(1)).build();
    Workload w = new Workload("faults-trust");
    KubeMtls tls = w.start(late, Duration.ofSeconds(5), events, InstantSource.system());
    MtlsMaterial first = tls.awaitReady(Duration.ofSeconds(60));
    List<X509Certificate> signerBundle = first.trust().certificates();
    assertThat(signerBundle).containsExactlyElementsOf(Pem.certificates(caPem, "CA"));

    // Deleted while the signer runs: reported, then put back by the signer with the same bundle,
    // which clears the problem (the snapshot does not change: same certificates).
    admin.configMaps().inNamespace(w.ns).withName(BUNDLE).delete();
    await("the deletion to be reported", Duration.ofSeconds(20)).until(() -> events.trustProblems.size() >= 1);
    await("the signer to put the bundle back", Duration.ofSeconds(20))
        .until(() -> admin.configMaps().inNamespace(w.ns).withName(BUNDLE).get(), cm -> cm != null);
    await("the problem to clear once the same bundle is back", Duration.ofSeconds(20))
        .until(() -> tls.manager().status().lastTrustProblem().isEmpty());
    assertThat(tls.current()).isSameAs(first);
    assertThat(events.trustChanges).isEmpty();
    events.trustProblems.clear();

    // With the signer down nobody repairs the ConfigMap, so the workload sees what we write.
    Signer leader = awaitLeader();
    leader.close();
    replicas.remove(leader);
    try {
      admin.configMaps().inNamespace(w.ns).withName(BUNDLE).edit(cm -> new ConfigMapBuilder(cm)
          .addToData("ca.crt", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
          .build());
      await("the garbage to be rejected", Duration.ofSeconds(20)).until(() -> events.trustProblems.size() >= 1);
      assertThat(tls.current()).isSameAs(first);
      assertThat(tls.manager().status().lastTrustProblem()).isPresent();

      admin.configMaps().inNamespace(w.ns).withName(BUNDLE).delete();
      MtlsException deleted = await("the deletion to be reported", Duration.ofSeconds(20))
          .until(() -> events.trustProblems.stream().filter(p -> p.getMessage().contains("was deleted"))
              .findFirst().orElse(null), p -> p != null);
      assertThat(deleted.getMessage()).contains(w.ns + "/" + BUNDLE);
      assertThat(tls.current()).isSameAs(first);
      assertThat(tls.isReady()).isTrue();
      assertThat(tls.current().trust().certificates()).isEqualTo(signerBundle);

      // Recreated (by hand, with one more CA): followed at once, the identity still chains to it.
      TestCa extra = TestCa.create("faults extra CA");
      // Signed with the CA's key, as the signer signs what it publishes: the workload checks that.
      String widenedPem = caPem + extra.certificatePem();
      admin.configMaps().inNamespace(w.ns).resource(new ConfigMapBuilder().withNewMetadata().withName(BUNDLE)
          .endMetadata().addToData("ca.crt", widenedPem).addToData("ca.crt.sig",
              dev.kubemtls.core.pki.BundleSignatures.sign(widenedPem, List.of(new dev.kubemtls.core.pki.BundleSignatures
                  .Signer(caAuthority.certificate(), caAuthority.keyPair().key())), Instant.now())).build()).create();
      MtlsMaterial widened = await("the recreated bundle to be followed", Duration.ofSeconds(20))
          .until(tls::current, m -> m.trust().certificates().size() == 2);
      assertThat(widened.identity()).isSameAs(first.identity());
      assertThat(widened.trust().certificates()).contains(extra.certificate());
      // Listeners hear of a snapshot after it is published (from the serial executor): wait for it.
      await("the trust change to be heard", Duration.ofSeconds(10)).until(() -> events.trustChanges.size() >= 1);
      assertThat(events.trustChanges).hasSize(1);
      assertThat(tls.manager().status().lastTrustProblem()).isEmpty();
    } finally {
      startReplica();
    }
    // The new signer replica puts its own bundle back: followed again.
    MtlsMaterial repaired = await("the signer's bundle to be republished and followed", Duration.ofSeconds(30))
        .until(tls::current, m -> m.trust().certificates().size() == 1);
    assertThat(repaired.trust().certificates()).isEqualTo(signerBundle);
    assertThat(repaired.identity()).isSameAs(first.identity());
    await("the second trust change to be heard", Duration.ofSeconds(10)).until(() -> events.trustChanges.size() >= 2);
    assertThat(events.trustChanges).hasSize(2);
    assertThat(events.rotations).isEmpty();
  }

  // ---- d. a renewal is denied ----

  @Test
  void deniedRenewalKeepsTheCertificateBacksOffAndRecoversOnceAllowed() throws Exception {
    Events events = new Events();
    Workload w = new Workload("faults-deny");
    KubeMtls tls = w.start(EARLY, Duration.ofSeconds(5), events, InstantSource.system());
    MtlsMaterial first = tls.awaitReady(Duration.ofSeconds(60));
    Instant renewalAt = await("the first renewal to be scheduled", Duration.ofSeconds(10))
        .until(() -> tls.manager().status().nextAttempt().orElse(null), at -> at != null);

    // The strict approver issues service DNS names only while a Service selects the pod.
    admin.services().inNamespace(w.ns).withName("web").delete();
    await("two denials", Duration.ofSeconds(40)).until(() -> events.denials.size() >= 2);
    Denial d1 = events.denials.get(0);
    Denial d2 = events.denials.get(1);
    assertThat(d1.denial().reason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    assertThat(d1.denial().approverMessage()).contains("web." + w.ns + ".svc");
    assertThat(d1.attempt()).isEqualTo(1);
    assertThat(d2.attempt()).isEqualTo(2);
    // The denial backoff (3 s here, jittered to 1.5-3 s), not the failure backoff (0.25-0.5 s first),
    // bracketed so that a late listener cannot matter (see Events).
    assertThat(Duration.between(d1.at(), d1.next())).isLessThanOrEqualTo(Duration.ofMillis(3010));
    assertThat(Duration.between(renewalAt, d1.next())).isGreaterThanOrEqualTo(Duration.ofMillis(1490));
    assertThat(Duration.between(d1.next(), d2.next())).isGreaterThanOrEqualTo(Duration.ofMillis(1490));
    assertThat(events.failures).isEmpty();
    assertThat(tls.current()).isSameAs(first);
    assertThat(tls.isReady()).isTrue();
    assertThat(tls.lastError().orElseThrow()).isInstanceOf(CertificateDeniedException.class);

    w.createService();
    MtlsMaterial renewed = await("a renewal once the Service is back", Duration.ofSeconds(30))
        .until(tls::current, m -> m.generation() > first.generation());
    assertThat(renewed.identity().leaf().getSerialNumber()).isNotEqualTo(first.identity().leaf().getSerialNumber());
    assertThat(first.identity().notAfter()).isAfter(Instant.now());
    assertThat(events.expired).isEmpty();
    assertThat(tls.lastError()).isEmpty();
  }

  // ---- e. the workload's clock jumps past the certificate's expiry ----

  /**
   * The workload's clock (a {@link MutableClock} that stands still unless moved) jumps to just past
   * the certificate's {@code notAfter}; the signer keeps real time. A certificate issued after the
   * jump is valid from about now (real time) for {@link #TTL}, so its {@code notAfter} lies beyond
   * the jumped clock and the workload accepts it: the jump is smaller than a lifetime, as a real
   * suspend or clock step that the certificate outlives on the signer's side would be.
   */
  @Test
  void clockJumpPastExpiryIsReportedAndRecoveredFrom() throws Exception {
    Events events = new Events();
    MutableClock clock = MutableClock.startingNow();
    RotationPolicy policy = RotationPolicy.builder().backoff(Duration.ofMillis(500), Duration.ofSeconds(2))
        .minimumRenewalDelay(Duration.ofSeconds(1)).build();
    Workload w = new Workload("faults-clock");
    KubeMtls tls = w.start(policy, Duration.ofSeconds(20), events, clock);
    MtlsMaterial first = tls.awaitReady(Duration.ofSeconds(60));
    assertThat(tls.isReady()).isTrue();

    // Exactly to notAfter: expired (valid means before notAfter), and any later signature outlives it.
    Instant jumpedTo = first.identity().notAfter();
    clock.set(jumpedTo);
    assertThat(tls.isReady()).isFalse();
    assertThat(tls.timeToExpiry().orElseThrow()).isLessThanOrEqualTo(Duration.ZERO);
    assertThat(tls.manager().status().state()).isEqualTo(CertificateManager.State.EXPIRED);

    TlsIdentity expired = await("the expiry to be reported", Duration.ofSeconds(20))
        .until(() -> events.expired.isEmpty() ? null : events.expired.get(0), e -> e != null);
    assertThat(expired).isSameAs(first.identity());

    MtlsMaterial recovered = await("a new certificate valid at the jumped clock", Duration.ofSeconds(30))
        .until(() -> events.recovered.isEmpty() ? null : events.recovered.get(0), m -> m != null);
    assertThat(recovered.identity().notAfter()).isAfter(jumpedTo);
    assertThat(recovered.identity().leaf().getSerialNumber())
        .isNotEqualTo(first.identity().leaf().getSerialNumber());
    assertThat(tls.isReady()).isTrue();
    assertThat(tls.current().generation()).isGreaterThan(first.generation());
    assertThat(tls.manager().status().state()).isEqualTo(CertificateManager.State.READY);
  }

  // ---- helpers ----

  private KubeMtls workload(String prefix, RotationPolicy policy, Duration issuanceTimeout, Events events,
      InstantSource clock) {
    return new Workload(prefix).start(policy, issuanceTimeout, events, clock);
  }

  /** A namespace that opts in to this signer's bundle, Pod web-0 (SA web) and Service web selecting it. */
  private final class Workload {
    final String ns;
    final String ip;
    final Pod pod;

    Workload(String prefix) {
      ns = cp.createNamespace(prefix, Map.of(OPT_IN, "true"));
      int n = POD_IPS.incrementAndGet();
      ip = "10.78." + (n / 250) + "." + (n % 250 + 1);
      pod = cp.createPod(ns, "web-0", "web", Map.of("app", "web"), ip);
      createService();
      admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
          .withName("kube-mtls-workload-csr-" + ns + "-web").endMetadata()
          .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
          .withName("kube-mtls-workload-csr").endRoleRef()
          .addNewSubject().withKind("ServiceAccount").withName("web").withNamespace(ns).endSubject().build()).create();
      admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
          .withName("kube-mtls-workload-bundle-web").endMetadata()
          .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
          .withName("kube-mtls-workload-bundle").endRoleRef()
          .addNewSubject().withKind("ServiceAccount").withName("web").withNamespace(ns).endSubject().build()).create();
    }

    void createService() {
      admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
          .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    }

    KubeMtls start(RotationPolicy policy, Duration issuanceTimeout, Events events, InstantSource clock) {
      KubernetesClient client = clientFor(ns, pod);
      closeAfter.add(client);
      KubeMtls tls = KubeMtls.forWorkload(client)
          .identity(WorkloadIdentity.builder(ns, "web").podName("web-0").podIp(ip).services("web").build())
          .signerName(SIGNER)
          // The bundle ConfigMap, which these faults break and delete (the signed check included).
          .trustConfigMap()
          .rotationPolicy(policy)
          .issuanceTimeout(issuanceTimeout)
          .listener(events)
          .clock(clock)
          .start();
      closeAfter.add(0, tls);
      return tls;
    }
  }

  /** The workload's own client: its ServiceAccount token bound to the pod, and no HTTP retries. */
  private static KubernetesClient clientFor(String ns, Pod pod) {
    Config config = new ConfigBuilder(Config.empty())
        .withMasterUrl(cp.apiServerUrl())
        .withCaCertData(SignerFixture.b64(cp.clusterCaPem()))
        .withOauthToken(cp.mintToken(ns, "web", pod, Duration.ofHours(1)))
        .withRequestTimeout(10_000)
        .withRequestRetryBackoffLimit(0)
        .build();
    return new KubernetesClientBuilder().withConfig(config).build();
  }

  private static Signer awaitLeader() {
    return await("a faults signer leader", Duration.ofSeconds(30))
        .until(() -> replicas.stream().filter(Signer::isLeader).findFirst().orElse(null), s -> s != null);
  }

  private static ConditionFactory await(String what, Duration atMost) {
    return Awaitility.await(what).atMost(atMost).pollInterval(Duration.ofMillis(50));
  }

  private static void apply(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      for (HasMetadata item : admin.load(in).items()) {
        admin.resource(item).forceConflicts().serverSideApply();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  record Failure(Exception error, int attempt, Instant at, Instant next) { }

  record Denial(CertificateDeniedException denial, int attempt, Instant at, Instant next) { }

  /**
   * Records what the manager reports, with the real time of each report. The manager computes a
   * next attempt when an attempt fails and tells its listener afterwards, on the listener executor,
   * which a loaded machine may run late; so a backoff ({@code next} minus the failure) is at least
   * {@code next - at} and at most {@code next} minus the attempt's start (the time it was scheduled
   * for, or the previous {@code next}): the tests hold the upper bound to the former and the lower
   * bound to the latter, never a lower bound to {@code next - at}, which a late listener shrinks.
   */
  static final class Events implements ManagerListener {
    final List<Failure> failures = new CopyOnWriteArrayList<>();
    final List<Denial> denials = new CopyOnWriteArrayList<>();
    final List<MtlsMaterial> rotations = new CopyOnWriteArrayList<>();
    final List<TlsIdentity> expired = new CopyOnWriteArrayList<>();
    final List<MtlsMaterial> recovered = new CopyOnWriteArrayList<>();
    final List<MtlsException> trustProblems = new CopyOnWriteArrayList<>();
    final List<TrustBundle> trustChanges = new CopyOnWriteArrayList<>();

    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      failures.add(new Failure(error, attempt, Instant.now(), nextAttempt));
    }

    @Override
    public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
      denials.add(new Denial(denial, attempt, Instant.now(), nextAttempt));
    }

    @Override
    public void rotated(MtlsMaterial previous, MtlsMaterial current) {
      rotations.add(current);
    }

    @Override
    public void expired(TlsIdentity identity) {
      expired.add(identity);
    }

    @Override
    public void recovered(MtlsMaterial material, Duration downtime) {
      recovered.add(material);
    }

    @Override
    public void trustRejected(MtlsException problem) {
      trustProblems.add(problem);
    }

    @Override
    public void trustChanged(TrustBundle previous, TrustBundle current) {
      trustChanges.add(current);
    }
  }
}
