package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.TrustSource;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.internal.MaterialChecks;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The manager's loop, driven by a fake scheduler and a settable clock; real certificates from a test CA. */
class CertificateManagerTest {

  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final TestCa CA = TestCa.create("ca-one", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TestCa OTHER_CA = TestCa.create("ca-two", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "test/one@1");
  private static final TrustBundle BOTH = new TrustBundle(List.of(CA.certificate(), OTHER_CA.certificate()), "test/both@2");
  private static final TrustBundle ONLY_OTHER = new TrustBundle(List.of(OTHER_CA.certificate()), "test/two@3");

  private final MutableClock clock = new MutableClock(T0);
  private final FakeScheduler scheduler = new FakeScheduler(clock);
  private final ScriptedIssuer issuer = new ScriptedIssuer(clock, CA);
  private final TrustPublisher trust = new TrustPublisher(TRUST);
  private final Recorder events = new Recorder();
  private final List<MtlsMaterial> seen = new ArrayList<>();
  private final List<String> invalidSeen = new ArrayList<>();
  private CertificateManager manager;

  private CertificateManager manager() {
    return manager(trust);
  }

  private CertificateManager manager(TrustSource source) {
    manager = CertificateManager.builder().issuer(issuer).trust(source).clock(clock).scheduler(scheduler)
        .jitter(() -> 0.5).listener(events).build();
    manager.subscribe(m -> {
      // Every snapshot a listener sees must be usable at the moment it is seen.
      try {
        MaterialChecks.requireKeyMatchesLeaf(m.identity());
        MaterialChecks.requireChainsTo(m.identity(), m.trust(), clock.instant());
        if (!seen.isEmpty() && m.generation() != seen.get(seen.size() - 1).generation() + 1) {
          invalidSeen.add("generation jumped to " + m.generation());
        }
      } catch (InvalidMaterialException e) {
        invalidSeen.add(e.getMessage());
      }
      seen.add(m);
    });
    return manager;
  }

  @AfterEach
  void noInvalidMaterialWasEverPublished() {
    if (manager != null) {
      manager.close();
    }
    assertThat(invalidSeen).isEmpty();
  }

  @Test
  void firstIssueMakesTheManagerReady() throws Exception {
    CertificateManager m = manager();
    assertThat(m.status().state()).isEqualTo(CertificateManager.State.NEW);
    CompletableFuture<MtlsMaterial> ready = m.start();
    assertThat(ready).isNotDone();
    assertThat(m.isReady()).isFalse();
    assertThat(m.status().state()).isEqualTo(CertificateManager.State.STARTING);

    scheduler.runDue();

    MtlsMaterial first = ready.get(0, TimeUnit.SECONDS);
    assertThat(first.generation()).isEqualTo(1);
    assertThat(first.identity().generation()).isEqualTo(1);
    assertThat(first.trust()).isEqualTo(TRUST);
    assertThat(m.current()).isSameAs(first);
    assertThat(m.awaitReady(Duration.ZERO)).isSameAs(first);
    assertThat(m.isReady()).isTrue();
    assertThat(m.timeToExpiry()).contains(Duration.ofHours(1));
    assertThat(m.lastError()).isEmpty();
    assertThat(issuer.generations()).containsExactly(1L);
    // Jitter 0.5 in the 70-90% window: 80% of an hour.
    assertThat(events.list).containsExactly("issued:1", "ready:1", "scheduled:1@" + T0.plus(Duration.ofMinutes(48)));
    CertificateManager.Status status = m.status();
    assertThat(status.state()).isEqualTo(CertificateManager.State.READY);
    assertThat(status.nextAttempt()).contains(T0.plus(Duration.ofMinutes(48)));
    assertThat(status.trustVersion()).contains("test/one@1");
  }

  @Test
  void renewsAtTheScheduledJitteredPointWithAFreshKey() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    MtlsMaterial first = m.current();

    scheduler.advanceTo(T0.plus(Duration.ofMinutes(48)).minusMillis(1));
    assertThat(issuer.generations()).containsExactly(1L);
    assertThat(m.current()).isSameAs(first);

    scheduler.advanceTo(T0.plus(Duration.ofMinutes(48)));
    MtlsMaterial second = m.current();
    assertThat(issuer.generations()).containsExactly(1L, 2L);
    assertThat(second.generation()).isEqualTo(2);
    assertThat(second.identity().generation()).isEqualTo(2);
    assertThat(second.identity().privateKey()).isNotEqualTo(first.identity().privateKey());
    assertThat(second.identity().leaf().getPublicKey()).isNotEqualTo(first.identity().leaf().getPublicKey());
    assertThat(events.list).containsSequence("issued:2", "rotated:1->2",
        "scheduled:2@" + T0.plus(Duration.ofMinutes(96)));
  }

  @Test
  void fiveConsecutiveRenewals() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    for (int i = 0; i < 5; i++) {
      scheduler.advanceTo(m.status().nextAttempt().orElseThrow());
      assertThat(m.isReady()).isTrue();
    }
    assertThat(issuer.generations()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
    assertThat(seen).extracting(MtlsMaterial::generation).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
    assertThat(seen).extracting(x -> x.identity().generation()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
    assertThat(seen).extracting(x -> x.identity().leaf().getSerialNumber()).doesNotHaveDuplicates();
    assertThat(clock.instant()).isEqualTo(T0.plus(Duration.ofMinutes(48 * 5)));
    assertThat(events.count("rotated:")).isEqualTo(5);
    assertThat(events.count("failed:")).isZero();
  }

  @Test
  void failuresBackOffExponentiallyWhileServingThenRecover() {
    issuer.then(issuer.issue(Duration.ofHours(1)))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"))
        .then(ScriptedIssuer.fail("apiserver unreachable"));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    MtlsMaterial first = m.current();

    Instant renewal = T0.plus(Duration.ofMinutes(48));
    scheduler.advanceTo(renewal);
    // Equal jitter at 0.5: 3/4 of 2, 4, 8, 16, 32, 32, 32 seconds.
    List<Duration> expectedDelays = List.of(Duration.ofMillis(1500), Duration.ofSeconds(3), Duration.ofSeconds(6),
        Duration.ofSeconds(12), Duration.ofSeconds(24), Duration.ofSeconds(24), Duration.ofSeconds(24));
    Instant at = renewal;
    for (int attempt = 1; attempt <= expectedDelays.size(); attempt++) {
      at = at.plus(expectedDelays.get(attempt - 1));
      assertThat(events.last()).isEqualTo("failed:" + attempt + "@" + at);
      assertThat(m.status().consecutiveFailures()).isEqualTo(attempt);
      assertThat(m.lastError()).get().extracting(Throwable::getMessage).asString().contains("apiserver unreachable");
      assertThat(m.isReady()).isTrue();
      assertThat(m.current()).isSameAs(first);
      scheduler.advanceTo(at);
    }
    assertThat(m.current().identity().generation()).isEqualTo(2);
    assertThat(m.lastError()).isEmpty();
    assertThat(m.status().consecutiveFailures()).isZero();
    assertThat(events.list).containsSubsequence("failed:7@" + at, "issued:2", "rotated:1->2");
    assertThat(events.count("expired:")).isZero();
    assertThat(events.count("recovered:")).isZero();
  }

  @Test
  void aDenialBacksOffLongAndIsReportedAsADenial() {
    issuer.then(issuer.issue(Duration.ofHours(1))).then(ScriptedIssuer.deny("DNSNameNotOwned"));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    Instant renewal = T0.plus(Duration.ofMinutes(48));
    scheduler.advanceTo(renewal);

    Instant retry = renewal.plus(Duration.ofSeconds(225)); // 5 min, equal jitter at 0.5
    assertThat(events.last()).isEqualTo("denied:1@" + retry);
    assertThat(events.count("failed:")).isZero();
    assertThat(m.lastError()).get().isInstanceOf(CertificateDeniedException.class);
    assertThat(m.isReady()).isTrue();

    scheduler.advanceTo(retry.minusMillis(1));
    assertThat(issuer.generations()).containsExactly(1L, 2L);
    scheduler.advanceTo(retry);
    assertThat(issuer.generations()).containsExactly(1L, 2L, 2L);
    assertThat(m.current().identity().generation()).isEqualTo(2);
  }

  @Test
  void aDenialNearExpiryRetriesAtNotAfterAtTheLatest() {
    issuer.then(issuer.issue(Duration.ofHours(1))).otherwise(ScriptedIssuer.deny("NotAllowed"));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    // Denials at 48:00, 51:45, 55:30 and 59:15 each wait 3m45s, but never past notAfter (60:00).
    scheduler.advanceTo(T0.plus(Duration.ofSeconds(59 * 60 + 15)));
    assertThat(events.count("denied:")).isEqualTo(4);
    assertThat(m.status().nextAttempt()).contains(T0.plus(Duration.ofHours(1)));
  }

  @Test
  void expiryMakesTheManagerNotReadyAndItRecoversByItself() {
    issuer.then(issuer.issue(Duration.ofHours(1))).otherwise(ScriptedIssuer.fail("signer down"));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    TlsIdentity first = m.current().identity();

    scheduler.advanceTo(first.notAfter().minusMillis(1));
    assertThat(m.isReady()).isTrue();
    assertThat(events.count("expired:")).isZero();

    scheduler.advanceTo(first.notAfter());
    assertThat(m.isReady()).isFalse();
    assertThat(m.status().state()).isEqualTo(CertificateManager.State.EXPIRED);
    assertThat(m.timeToExpiry()).contains(Duration.ZERO);
    assertThat(events.list).contains("expired:1");
    assertThat(m.current().identity()).isSameAs(first);

    // Keeps trying at the cap (32 s, 24 s with this jitter) while expired.
    int before = issuer.generations().size();
    scheduler.advance(Duration.ofMinutes(10));
    assertThat(issuer.generations().size() - before).isBetween(24, 26);
    assertThat(m.status().nextAttempt().orElseThrow()).isBefore(clock.instant().plusSeconds(25));

    issuer.otherwise(issuer.issue(Duration.ofHours(1)));
    scheduler.advanceTo(m.status().nextAttempt().orElseThrow());
    assertThat(m.isReady()).isTrue();
    assertThat(m.status().state()).isEqualTo(CertificateManager.State.READY);
    assertThat(m.current().identity().generation()).isEqualTo(2);
    assertThat(events.list).anyMatch(e -> e.startsWith("recovered:2:PT10M"));
    assertThat(events.count("expired:")).isEqualTo(1);
  }

  @Test
  void aTrustChangePublishesANewSnapshotAtOnce() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    MtlsMaterial first = m.current();

    trust.publish(BOTH);

    // Current at once, listeners told from the queue.
    MtlsMaterial second = m.current();
    assertThat(seen).hasSize(1);
    scheduler.runDue();
    assertThat(seen).containsExactly(first, second);
    assertThat(second.generation()).isEqualTo(2);
    assertThat(second.identity()).isSameAs(first.identity());
    assertThat(second.trust()).isEqualTo(BOTH);
    assertThat(events.last()).isEqualTo("trustChanged:test/one@1->test/both@2");
    // The renewal schedule is not disturbed.
    assertThat(m.status().nextAttempt()).contains(T0.plus(Duration.ofMinutes(48)));
  }

  @Test
  void aBundleTheIdentityDoesNotChainToIsHeldUntilARenewalReconciles() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    MtlsMaterial first = m.current();

    trust.publish(ONLY_OTHER);
    scheduler.runDue();

    assertThat(m.current()).isSameAs(first);
    assertThat(events.last()).isEqualTo("trustRejected");
    CertificateManager.Status status = m.status();
    assertThat(status.heldTrust()).contains("test/two@3");
    assertThat(status.lastTrustProblem()).get().extracting(Throwable::getMessage).asString()
        .contains("does not chain to the new bundle test/two@3");
    // A renewal is brought forward to reconcile.
    assertThat(status.nextAttempt()).contains(T0.plusMillis(1500));

    issuer.switchCa(OTHER_CA);
    scheduler.advanceTo(T0.plusMillis(1500));

    MtlsMaterial reconciled = m.current();
    assertThat(reconciled.generation()).isEqualTo(2);
    assertThat(reconciled.trust()).isEqualTo(ONLY_OTHER);
    assertThat(reconciled.identity().leaf().getIssuerX500Principal()).isEqualTo(OTHER_CA.certificate().getSubjectX500Principal());
    assertThat(m.status().heldTrust()).isEmpty();
    assertThat(m.status().lastTrustProblem()).isEmpty();
    assertThat(events.list).containsSubsequence("trustRejected", "issued:2", "rotated:1->2",
        "trustChanged:test/one@1->test/two@3");
  }

  @Test
  void anIdentityThatMtlsMaterialValidateWouldRefuseIsNotPublished() {
    issuer.then(issuer.issue(Duration.ofHours(1))).then(generation -> {
      // The leaf, then a certificate that did not sign it: integrations would refuse this chain.
      KeyPair kp = TestCa.newKeyPair();
      return new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).dns("svc.ns.svc")
          .validity(clock.instant(), Duration.ofHours(1)).build(), OTHER_CA.certificate()), generation);
    });
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();

    scheduler.advanceTo(T0.plus(Duration.ofMinutes(48)));

    assertThat(m.current().generation()).isEqualTo(1);
    assertThat(m.lastError()).get().isInstanceOf(InvalidMaterialException.class)
        .asString().contains("order the chain leaf first");
    assertThat(seen).hasSize(1);
  }

  @Test
  void anIdentityThatDoesNotChainToTheTrustIsNotPublished() {
    issuer.then(issuer.issue(Duration.ofHours(1)));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    issuer.switchCa(OTHER_CA);

    scheduler.advanceTo(T0.plus(Duration.ofMinutes(48)));

    assertThat(m.current().generation()).isEqualTo(1);
    assertThat(m.lastError()).get().isInstanceOf(InvalidMaterialException.class);
    assertThat(events.last()).startsWith("failed:1@");
    assertThat(seen).hasSize(1);
  }

  @Test
  void anIdentityIssuedBeforeTheFirstBundleIsPublishedWhenTheBundleArrives() {
    TrustPublisher empty = new TrustPublisher();
    CertificateManager m = manager(empty);
    CompletableFuture<MtlsMaterial> ready = m.start();
    scheduler.runDue();
    assertThat(ready).isNotDone();
    assertThat(m.currentIfReady()).isEmpty();
    assertThat(events.list).contains("issued:1");

    empty.publish(TRUST);

    assertThat(ready).isCompleted();
    assertThat(m.current().trust()).isEqualTo(TRUST);
    assertThat(m.isReady()).isTrue();
  }

  @Test
  void trustSourceProblemsAreReportedAndChangeNothing() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    MtlsMaterial first = m.current();

    trust.reportProblem(new InvalidMaterialException("ConfigMap ns/ca key ca.crt holds no PEM block"));
    scheduler.runDue();

    assertThat(m.current()).isSameAs(first);
    assertThat(events.last()).isEqualTo("trustRejected");
    assertThat(m.status().lastTrustProblem()).isPresent();
    assertThat(m.isReady()).isTrue();

    // The source is back with the same certificates (e.g. a deleted ConfigMap put back): problem over.
    trust.publish(new TrustBundle(TRUST.certificates(), "test/one@4"));
    scheduler.runDue();
    assertThat(m.status().lastTrustProblem()).isEmpty();
    assertThat(m.current()).isSameAs(first);
    assertThat(events.last()).isEqualTo("trustRejected");
  }

  @Test
  void closeCancelsScheduledWork() {
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    assertThat(scheduler.pending()).isNotEmpty();

    m.close();

    assertThat(scheduler.pending()).isEmpty();
    scheduler.advance(Duration.ofDays(1));
    assertThat(issuer.generations()).containsExactly(1L);
    assertThat(m.status().state()).isEqualTo(CertificateManager.State.CLOSED);
    assertThat(m.isReady()).isFalse();
    trust.publish(BOTH);
    scheduler.runDue();
    assertThat(seen).hasSize(1);
    assertThatThrownBy(m::start).isInstanceOf(IllegalStateException.class);
    m.close();
  }

  @Test
  void closeInterruptsAnIssuanceInFlight() throws Exception {
    issuer.then(issuer.blockUntilInterrupted());
    CertificateManager m = manager();
    CompletableFuture<MtlsMaterial> ready = m.start();
    AtomicBoolean interruptLeaked = new AtomicBoolean(true);
    Thread worker = new Thread(() -> {
      scheduler.runDue();
      interruptLeaked.set(Thread.currentThread().isInterrupted());
    }, "fake-scheduler-worker");
    worker.start();
    assertThat(issuer.blocked.await(10, TimeUnit.SECONDS)).isTrue();

    m.close();
    worker.join(TimeUnit.SECONDS.toMillis(10));

    assertThat(worker.isAlive()).isFalse();
    assertThat(issuer.sawInterrupt).isTrue();
    assertThat(interruptLeaked).isFalse();
    assertThat(ready).isCompletedExceptionally();
    assertThatThrownBy(ready::get).isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(IllegalStateException.class);
    assertThat(m.currentIfReady()).isEmpty();
    assertThat(scheduler.pending()).isEmpty();
    assertThat(events.count("failed:")).isZero();
  }

  @Test
  void lifecycleMisuseIsReported() throws Exception {
    issuer.otherwise(ScriptedIssuer.fail("no signer"));
    CertificateManager m = manager();
    assertThatThrownBy(() -> m.awaitReady(Duration.ZERO)).isInstanceOf(IllegalStateException.class);
    m.start();
    assertThatThrownBy(m::start).isInstanceOf(IllegalStateException.class);
    scheduler.runDue();
    assertThatThrownBy(() -> m.awaitReady(Duration.ofMillis(1))).isInstanceOf(MtlsException.class)
        .hasMessageContaining("no signer").hasCauseInstanceOf(MtlsException.class);
    assertThatThrownBy(() -> CertificateManager.builder().issuer(issuer).trust(trust).build())
        .isInstanceOf(NullPointerException.class).hasMessageContaining("scheduler");
  }

  @Test
  void aListenerThatThrowsDoesNotStopTheManager() {
    manager = CertificateManager.builder().issuer(issuer).trust(trust).clock(clock).scheduler(scheduler)
        .jitter(() -> 0.5).listener(new ManagerListener() {
          @Override
          public void issued(TlsIdentity identity, Duration took) {
            throw new IllegalStateException("listener bug");
          }
        }).build();
    manager.start();
    scheduler.runDue();
    scheduler.advanceTo(manager.status().nextAttempt().orElseThrow());
    assertThat(manager.current().generation()).isEqualTo(2);
  }

  @Test
  void listenersAreCalledOutsideTheLockAndInOrder() throws Exception {
    CountDownLatch inListener = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    List<Long> delivered = new java.util.concurrent.CopyOnWriteArrayList<>();
    CertificateManager m = manager();
    m.subscribe(material -> {
      if (material.generation() == 1) {
        inListener.countDown();
        try {
          // An integration building its TLS contexts, slowly.
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      delivered.add(material.generation());
    });
    m.start();
    Thread worker = new Thread(scheduler::runDue, "fake-scheduler-worker");
    worker.start();
    assertThat(inListener.await(10, TimeUnit.SECONDS)).isTrue();

    // While a listener is busy with generation 1, nothing else waits for it: a probe reads the
    // status, a new trust bundle is accepted (the trust source's thread takes the manager's lock)
    // and becomes current at once.
    ExecutorService other = Executors.newSingleThreadExecutor();
    try {
      CertificateManager.Status status = other.submit(m::status).get(10, TimeUnit.SECONDS);
      assertThat(status.state()).isEqualTo(CertificateManager.State.READY);
      assertThat(status.generation()).isEqualTo(1);
      other.submit(() -> trust.publish(BOTH)).get(10, TimeUnit.SECONDS);
      assertThat(m.current().generation()).isEqualTo(2);
      assertThat(m.current().trust()).isEqualTo(BOTH);
      assertThat(other.submit(m::isReady).get(10, TimeUnit.SECONDS)).isTrue();
      assertThat(delivered).isEmpty();
    } finally {
      // Let the listener go even when an assertion failed, so the worker (and close()) can finish.
      release.countDown();
      other.shutdownNow();
    }

    worker.join(TimeUnit.SECONDS.toMillis(10));
    assertThat(worker.isAlive()).isFalse();
    scheduler.runDue();
    // Every snapshot, in order, each one once.
    assertThat(delivered).containsExactly(1L, 2L);
    assertThat(seen).extracting(MtlsMaterial::generation).containsExactly(1L, 2L);
    assertThat(events.list).containsExactly("issued:1", "ready:1", "scheduled:1@" + T0.plus(Duration.ofMinutes(48)),
        "trustChanged:test/one@1->test/both@2");
  }

  @Test
  void materialAndManagerListenersShareOneOrderedQueue() {
    List<String> order = new ArrayList<>();
    manager = CertificateManager.builder().issuer(issuer).trust(trust).clock(clock).scheduler(scheduler)
        .jitter(() -> 0.5).listener(new ManagerListener() {
          @Override
          public void ready(MtlsMaterial material) {
            order.add("ready:" + material.generation());
          }

          @Override
          public void rotated(MtlsMaterial previous, MtlsMaterial current) {
            order.add("rotated:" + current.generation());
          }

          @Override
          public void trustChanged(TrustBundle previous, TrustBundle current) {
            order.add("trustChanged:" + current.sourceVersion());
          }
        }).build();
    manager.subscribe(material -> order.add("material:" + material.generation()));
    manager.start();
    scheduler.runDue();
    trust.publish(BOTH);
    scheduler.advanceTo(manager.status().nextAttempt().orElseThrow());

    // The snapshot reaches the material listeners before the event that announces it.
    assertThat(order).containsExactly("material:1", "ready:1", "material:2", "trustChanged:test/both@2",
        "material:3", "rotated:3");
  }

  @Test
  void aSubscriptionClosedBeforeDeliveryIsNotCalled() {
    CertificateManager m = manager();
    List<Long> late = new ArrayList<>();
    MaterialSource.Subscription sub = m.subscribe(material -> late.add(material.generation()));
    m.start();
    scheduler.runDue();
    trust.publish(BOTH);
    sub.close();
    scheduler.runDue();
    assertThat(late).containsExactly(1L);
    assertThat(seen).hasSize(2);
  }

  @Test
  void aListenerExecutorOfItsOwnRunsTheCalls() {
    FakeScheduler listeners = new FakeScheduler(clock);
    List<String> order = new ArrayList<>();
    manager = CertificateManager.builder().issuer(issuer).trust(trust).clock(clock).scheduler(scheduler)
        .listenerExecutor(listeners).jitter(() -> 0.5).listener(new ManagerListener() {
          @Override
          public void ready(MtlsMaterial material) {
            order.add("ready:" + material.generation());
          }
        }).build();
    manager.subscribe(material -> order.add("material:" + material.generation()));
    manager.start();
    scheduler.runDue();
    assertThat(manager.current().generation()).isEqualTo(1);
    assertThat(order).isEmpty();
    listeners.runDue();
    assertThat(order).containsExactly("material:1", "ready:1");
  }

  @Test
  void aTimeoutNamesTheStageOfTheRequestInFlightRatherThanTheEarlierDenial() throws Exception {
    issuer.then(ScriptedIssuer.deny("DNSNameNotOwned")).then(issuer.reportThenBlock("csr-second",
        IssuanceProgress.Stage.AWAITING_APPROVAL, IssuanceProgress.Stage.AWAITING_SIGNATURE));
    CertificateManager m = manager();
    m.start();
    scheduler.runDue();
    Instant retry = m.status().nextAttempt().orElseThrow();
    // Between attempts: the denial, and when the next attempt starts.
    assertThatThrownBy(() -> m.awaitReady(Duration.ofMillis(1))).isInstanceOf(MtlsException.class)
        .hasMessageContaining("the last attempt failed (1 in a row), next attempt at " + retry)
        .hasMessageContaining("DNSNameNotOwned");
    assertThat(m.status().inProgress()).isEmpty();

    Thread worker = new Thread(() -> scheduler.advanceTo(retry), "fake-scheduler-worker");
    worker.start();
    try {
      assertThat(issuer.blocked.await(10, TimeUnit.SECONDS)).isTrue();

      assertThatThrownBy(() -> m.awaitReady(Duration.ofMillis(1))).isInstanceOf(MtlsException.class)
          .hasMessageContaining("issuance in progress, request csr-second: approved, waiting for the signer since "
              + retry + " (check the signer)")
          .hasMessageContaining("the attempt before failed (1 in a row)")
          .hasCauseInstanceOf(CertificateDeniedException.class);
      IssuanceProgress progress = m.status().inProgress().orElseThrow();
      assertThat(progress.request()).isEqualTo("csr-second");
      assertThat(progress.stage()).isEqualTo(IssuanceProgress.Stage.AWAITING_SIGNATURE);
      assertThat(progress.since()).isEqualTo(retry);
    } finally {
      m.close();
      worker.join(TimeUnit.SECONDS.toMillis(10));
    }
    assertThat(worker.isAlive()).isFalse();
    assertThat(m.status().inProgress()).isEmpty();
  }

  @Test
  void aTimeoutSaysWhenTheIdentityWaitsForTheFirstTrustBundle() {
    CertificateManager m = manager(new TrustPublisher());
    m.start();
    scheduler.runDue();
    assertThatThrownBy(() -> m.awaitReady(Duration.ofMillis(1))).isInstanceOf(MtlsException.class)
        .hasMessageContaining("waiting for the first trust bundle");
  }

  /** Records events as short strings. */
  static final class Recorder implements ManagerListener {
    final List<String> list = new ArrayList<>();

    String last() {
      return list.get(list.size() - 1);
    }

    long count(String prefix) {
      return list.stream().filter(e -> e.startsWith(prefix)).count();
    }

    @Override
    public void issued(TlsIdentity identity, Duration took) {
      list.add("issued:" + identity.generation());
    }

    @Override
    public void ready(MtlsMaterial material) {
      list.add("ready:" + material.generation());
    }

    @Override
    public void rotated(MtlsMaterial previous, MtlsMaterial current) {
      list.add("rotated:" + previous.generation() + "->" + current.generation());
    }

    @Override
    public void renewalScheduled(TlsIdentity identity, Instant at) {
      list.add("scheduled:" + identity.generation() + "@" + at);
    }

    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      list.add("failed:" + attempt + "@" + nextAttempt);
    }

    @Override
    public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
      list.add("denied:" + attempt + "@" + nextAttempt);
    }

    @Override
    public void expired(TlsIdentity identity) {
      list.add("expired:" + identity.generation());
    }

    @Override
    public void recovered(MtlsMaterial material, Duration downtime) {
      list.add("recovered:" + material.generation() + ":" + downtime);
    }

    @Override
    public void trustChanged(TrustBundle previous, TrustBundle current) {
      list.add("trustChanged:" + previous.sourceVersion() + "->" + current.sourceVersion());
    }

    @Override
    public void trustRejected(MtlsException problem) {
      list.add("trustRejected");
    }
  }
}
