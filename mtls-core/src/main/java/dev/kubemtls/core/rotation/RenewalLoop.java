package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.internal.Pairing;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The renewal loop of a {@link CertificateManager} and the state it shares with the manager's
 * {@link TrustReconciliation}: one attempt at a time through the {@link IdentityIssuer}, each new
 * identity paired with trust by {@link Pairing}, failures retried with the {@link RotationPolicy}'s
 * backoff, expiry noticed by a {@link ClockTimer}. This object is the manager's lock: every field
 * below is guarded by it, and every method that says "holds the lock" is called with it held.
 */
final class RenewalLoop {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateManager.class);

  final IdentityIssuer issuer;
  final TrustSource trustSource;
  final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final DoubleSupplier jitter;
  private final RotationPolicy policy;
  private final Set<String> finalDenialReasons;
  final Announcer announcer;
  final CompletableFuture<MtlsMaterial> ready = new CompletableFuture<>();

  // Guarded by this.
  boolean started;
  volatile boolean closed;
  MaterialSource.Subscription trustSubscription;
  TrustBundle trust;
  TrustBundle heldTrust;
  TlsIdentity pendingIdentity;
  long identityGeneration;
  int failures;
  Exception lastError;
  MtlsException lastTrustProblem;
  Instant expiredAt;
  ClockTimer renewalTask;
  Instant nextAttempt;
  ClockTimer expiryTask;
  Thread issuing;
  Instant issuingSince;
  long attempts;
  IssuanceProgress inProgress;
  boolean interruptedByClose;
  MtlsMaterial firstToAnnounce;
  /** Set when the first issuance was denied for a final reason: no attempt follows. */
  CertificateDeniedException gaveUp;
  boolean announceGaveUp;

  RenewalLoop(CertificateManagerBuilder b) {
    this.issuer = b.issuer;
    this.trustSource = b.trustSource;
    this.clock = b.clock;
    this.scheduler = b.scheduler;
    this.jitter = b.jitter;
    this.policy = b.policy;
    this.finalDenialReasons = b.finalDenialReasons;
    this.announcer = new Announcer(b.listener, b.listenerExecutor == null ? b.scheduler : b.listenerExecutor);
  }

  /** Holds the lock. Stops the timers and interrupts an issuance in flight; see {@link CertificateManager#close}. */
  void stop() {
    closed = true;
    cancel(renewalTask);
    cancel(expiryTask);
    renewalTask = null;
    expiryTask = null;
    nextAttempt = null;
    if (issuing != null) {
      interruptedByClose = true;
      issuing.interrupt();
    }
  }

  void attempt() {
    long generation;
    long attempt;
    synchronized (this) {
      if (closed || issuing != null) {
        return;
      }
      issuing = Thread.currentThread();
      issuingSince = clock.instant();
      attempt = ++attempts;
      inProgress = null;
      renewalTask = null;
      nextAttempt = null;
      generation = identityGeneration + 1;
      reportExpiryIfDue(clock.instant());
    }
    Instant began = clock.instant();
    TlsIdentity identity = null;
    Exception error = null;
    boolean interrupted = false;
    try {
      identity = issuer.issue(generation, progress -> progressed(attempt, progress));
      if (identity == null) {
        error = new InvalidMaterialException("the identity issuer returned nothing for generation " + generation);
      }
    } catch (InterruptedException e) {
      interrupted = true;
      error = e;
    } catch (RuntimeException e) {
      error = e;
    }
    synchronized (this) {
      issuing = null;
      issuingSince = null;
      inProgress = null;
      if (interruptedByClose) {
        Thread.interrupted(); // ours, from close(): do not leak it into the executor's next task
        interruptedByClose = false;
      } else if (interrupted) {
        Thread.currentThread().interrupt();
      }
      if (closed) {
        return;
      }
      if (error == null) {
        accept(identity, generation, began);
      } else {
        fail(error);
      }
    }
    announceFirst();
  }

  /** The issuer's report on the attempt in flight; ignored once that attempt is over. */
  private synchronized void progressed(long attempt, IssuanceProgress progress) {
    if (progress != null && issuing != null && attempt == attempts) {
      inProgress = progress;
    }
  }

  /** Completes the start() future, if the first snapshot was just published, without holding the lock. */
  void announceFirst() {
    MtlsMaterial first;
    CertificateDeniedException denial = null;
    synchronized (this) {
      first = firstToAnnounce;
      firstToAnnounce = null;
      if (announceGaveUp) {
        announceGaveUp = false;
        denial = gaveUp;
      }
    }
    if (first != null) {
      ready.complete(first);
    }
    if (denial != null) {
      ready.completeExceptionally(denial);
    }
  }

  /** Holds the lock. */
  private void accept(TlsIdentity identity, long generation, Instant began) {
    Instant now = clock.instant();
    Pairing.Decision decision = Pairing.issued(identity, generation, announcer.currentIfReady().orElse(null), trust, heldTrust, now);
    if (decision instanceof Pairing.Refuse refuse) {
      fail(refuse.reason());
      return;
    }
    identityGeneration = generation;
    if (decision instanceof Pairing.AwaitTrust) {
      // Keep it until the first bundle arrives (onTrustBundle publishes it); renew it on time anyway.
      pendingIdentity = identity;
      succeeded();
      announcer.tell(l -> l.issued(identity, Duration.between(began, now)));
      LOG.info("issued {}; waiting for a trust bundle before publishing it", identity);
      scheduleRenewal(identity, now);
      return;
    }
    Pairing.Publish publish = (Pairing.Publish) decision;
    announcer.tell(l -> l.issued(identity, Duration.between(began, now)));
    TrustBundle previousTrust = trust;
    publishIdentity(publish.material(), now);
    if (publish.adoptsHeld()) {
      heldTrust = null;
      lastTrustProblem = null;
      TrustBundle adopted = publish.material().trust();
      announcer.tell(l -> l.trustChanged(previousTrust, adopted));
      LOG.info("adopted the held trust bundle {} together with the renewed identity", adopted);
    }
  }

  /** Holds the lock. Publishes a snapshot of a new identity that {@link Pairing} found fit. */
  void publishIdentity(MtlsMaterial next, Instant now) {
    MtlsMaterial previous = announcer.currentIfReady().orElse(null);
    TlsIdentity identity = next.identity();
    TrustBundle bundle = next.trust();
    trust = bundle;
    pendingIdentity = null;
    announcer.publish(next);
    Instant wasExpiredAt = expiredAt;
    succeeded();
    if (previous == null) {
      LOG.info("ready: published {} with {}", identity, bundle);
      announcer.tell(l -> l.ready(next));
      firstToAnnounce = next; // completed outside the lock: callers' callbacks must not run under it
    } else {
      LOG.info("rotated to {}", identity);
      announcer.tell(l -> l.rotated(previous, next));
    }
    if (wasExpiredAt != null) {
      Duration downtime = Duration.between(wasExpiredAt, now);
      LOG.info("recovered after {} without a valid certificate", downtime);
      announcer.tell(l -> l.recovered(next, downtime));
    }
    scheduleRenewal(identity, now);
    cancel(expiryTask);
    expiryTask = schedule(() -> checkExpiry(identity), identity.notAfter());
  }

  private void succeeded() {
    failures = 0;
    lastError = null;
    expiredAt = null;
  }

  /** Holds the lock. */
  void fail(Exception error) {
    failures++;
    lastError = error;
    Instant now = clock.instant();
    Optional<Instant> notAfter = announcer.currentIfReady().map(m -> m.identity().notAfter());
    boolean denied = error instanceof CertificateDeniedException;
    if (denied && announcer.currentIfReady().isEmpty() && pendingIdentity == null
        && finalDenialReasons.contains(((CertificateDeniedException) error).reason())) {
      // Nothing served yet and the approver's answer will not change: end the first issuance here,
      // instead of leaving a denied request behind per retry until a startup timeout.
      CertificateDeniedException denial = (CertificateDeniedException) error;
      gaveUp = denial;
      announceGaveUp = true;
      cancel(renewalTask);
      renewalTask = null;
      nextAttempt = null;
      int attempt = failures;
      LOG.error("certificate request denied for a reason another attempt cannot change; no further attempt: {}",
          denial.getMessage());
      announcer.tell(l -> l.gaveUp(denial, attempt));
      return;
    }
    Instant next = policy.retryTime(now, notAfter, failures, denied, sample());
    int attempt = failures;
    if (denied) {
      LOG.warn("certificate request denied (attempt {}), next attempt at {}: {}", attempt, next, error.getMessage());
      announcer.tell(l -> l.denied((CertificateDeniedException) error, attempt, next));
    } else {
      LOG.warn("certificate renewal failed (attempt {}), next attempt at {}: {}", attempt, next, error.toString());
      announcer.tell(l -> l.renewalFailed(error, attempt, next));
    }
    scheduleAttempt(next);
  }

  private void scheduleRenewal(TlsIdentity identity, Instant now) {
    Instant at = policy.nextRenewal(identity, now, sample());
    scheduleAttempt(at);
    LOG.info("renewal of generation {} scheduled at {}", identity.generation(), at);
    announcer.tell(l -> l.renewalScheduled(identity, at));
  }

  /** Holds the lock. Replaces any scheduled attempt. */
  void scheduleAttempt(Instant at) {
    cancel(renewalTask);
    nextAttempt = at;
    renewalTask = schedule(this::attempt, at);
  }

  private void checkExpiry(TlsIdentity identity) {
    synchronized (this) {
      Optional<MtlsMaterial> m = announcer.currentIfReady();
      if (closed || m.isEmpty() || m.get().identity() != identity || expiredAt != null) {
        return;
      }
      Instant now = clock.instant();
      if (now.isBefore(identity.notAfter())) {
        expiryTask = schedule(() -> checkExpiry(identity), identity.notAfter());
        return;
      }
      reportExpiryIfDue(now);
      if (renewalTask == null && issuing == null) {
        scheduleAttempt(now);
      }
    }
  }

  /** Holds the lock. Reports the expiry of the published identity once, if {@code now} is past it. */
  private void reportExpiryIfDue(Instant now) {
    Optional<MtlsMaterial> m = announcer.currentIfReady();
    if (m.isEmpty() || expiredAt != null || now.isBefore(m.get().identity().notAfter())) {
      return;
    }
    TlsIdentity identity = m.get().identity();
    expiredAt = identity.notAfter();
    LOG.error("certificate expired: {}; not ready until a renewal succeeds (last error: {})", identity,
        lastError == null ? "none" : lastError.toString());
    announcer.tell(l -> l.expired(identity));
  }


  /** Holds the lock. Brings the next renewal forward to within the first backoff step. */
  void renewSoon(Instant now) {
    if (issuing != null) {
      return;
    }
    Instant soon = now.plus(policy.failureBackoff(1, sample()));
    if (nextAttempt == null || nextAttempt.isAfter(soon)) {
      LOG.info("renewing early, at {}, to reconcile with the held trust bundle", soon);
      scheduleAttempt(soon);
    }
  }


  private ClockTimer schedule(Runnable task, Instant at) {
    return ClockTimer.start(clock, scheduler, CertificateManager.MAX_TIMER_STEP, task, at);
  }

  static void cancel(ClockTimer t) {
    ClockTimer.cancel(t);
  }

  double sample() {
    double s = jitter.getAsDouble();
    if (!(s >= 0.0 && s < 1.0)) {
      throw new IllegalStateException("the jitter source returned " + s + ", outside [0, 1)");
    }
    return s;
  }

}
