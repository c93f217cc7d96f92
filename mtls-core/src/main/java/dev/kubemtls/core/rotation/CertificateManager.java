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
import java.util.Collection;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns one workload identity over time: obtains the first certificate, renews it before it
 * expires, follows the trust bundle, and publishes each result as one immutable
 * {@link MtlsMaterial} snapshot.
 *
 * <p>Who holds what: the manager holds the current snapshot (key, chain and trust together) and
 * hands it to integrations through {@link #current()}, a volatile read. The snapshot changes in
 * exactly two ways, each producing a new snapshot one generation later: a renewal replaces the
 * identity (at a jittered point of the certificate's lifetime chosen by the {@link RotationPolicy},
 * with a fresh key and CSR from the {@link IdentityIssuer}), and a change of the
 * {@link TrustSource} replaces the trust bundle at once. Nothing is published that fails a check:
 * a new identity must match its key and chain to the trust bundle, and a new bundle must still
 * verify the current identity.
 *
 * <p>When the new trust bundle does not verify the current identity (a CA was dropped before this
 * workload was re-issued by the new one) the manager keeps serving the old bundle, reports
 * {@link ManagerListener#trustRejected}, holds the new bundle aside and starts a renewal soon. The
 * renewal reconciles: an identity that chains to the held bundle is published together with it in
 * one snapshot. A later bundle from the source replaces the held one.
 *
 * <p>When a renewal fails, the manager keeps serving the current material and retries with the
 * policy's backoff (a denial waits longer). If the certificate reaches its {@code notAfter} first,
 * the manager stops being {@linkplain #isReady() ready}, reports
 * {@link ManagerListener#expired}, keeps retrying at the backoff cap and recovers by itself on the
 * first success. {@link #current()} keeps returning the last snapshot in the meantime; check
 * {@link #isReady()} to tell.
 *
 * <p>Publishing: a new snapshot becomes {@link #current()} at once, while the manager holds its
 * lock, so a reader never sees an older snapshot after a newer one. Listeners, both the
 * {@link MaterialListener}s of {@link #subscribe} and the {@link ManagerListener}, are told
 * afterwards and outside the lock, one call at a time and in the order things happened, from one
 * serial queue on the {@linkplain Builder#listenerExecutor listener executor} (the scheduler by
 * default). A listener that takes its time (an integration building TLS contexts for several
 * servers) therefore delays only the listeners after it, never {@link #status()}, {@link #current()},
 * a readiness probe or the renewal loop. A material listener is told of every snapshot published
 * while it is subscribed, each one valid when it was published; by the time it runs,
 * {@link #current()} may already be newer.
 *
 * <p>Time, threads and randomness are injected: an {@link InstantSource}, a
 * {@link ScheduledExecutorService} (issuance blocks one of its threads while it waits for the
 * signer; the manager never creates threads and never shuts the executor down) and a jitter source
 * returning numbers in {@code [0, 1)}. {@link #close()} cancels scheduled work and interrupts an
 * issuance in flight. Timers read the clock again at least every five seconds, so a clock that
 * steps forward past {@code notAfter} is reported as an expiry, and renewed from, within seconds.
 */
public final class CertificateManager implements MaterialSource, Health, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateManager.class);

  /**
   * The longest a timer waits before reading the clock again. A scheduler counts its delays in its
   * own (monotonic) time, so a wall clock that steps forward (NTP, a resumed VM) would otherwise go
   * unnoticed until a delay computed before the step ran out: an expired certificate served and not
   * reported for up to the rest of its lifetime.
   */
  static final Duration MAX_TIMER_STEP = Duration.ofSeconds(5);

  /** Where a manager is in its life. */
  public enum State {
    /** Built, not started. */
    NEW,
    /** Started, no material published yet. */
    STARTING,
    /** Holds an unexpired certificate and a trust bundle. */
    READY,
    /** The current certificate has expired; renewal continues. */
    EXPIRED,
    /** Closed. */
    CLOSED
  }

  /**
   * A consistent view of the manager for probes and diagnostics.
   *
   * @param state               where the manager is
   * @param generation          the current snapshot's generation, 0 before the first
   * @param notAfter            the current certificate's expiry
   * @param nextAttempt         when the next renewal or retry starts, empty while one runs
   * @param consecutiveFailures failed attempts since the last success
   * @param lastError           the last failure since the last success
   * @param trustVersion        the source version of the trust bundle in use
   * @param heldTrust           a newer bundle that the current identity does not chain to
   * @param lastTrustProblem    the last trust problem since the last accepted bundle
   * @param inProgress          where the issuance in flight stands, as its issuer last reported;
   *                            empty when none runs or its issuer reports nothing
   */
  public record Status(State state, long generation, Optional<Instant> notAfter, Optional<Instant> nextAttempt,
      int consecutiveFailures, Optional<Exception> lastError, Optional<String> trustVersion,
      Optional<String> heldTrust, Optional<MtlsException> lastTrustProblem,
      Optional<IssuanceProgress> inProgress) { }

  private final IdentityIssuer issuer;
  private final TrustSource trustSource;
  private final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final DoubleSupplier jitter;
  private final RotationPolicy policy;
  private final ManagerListener listener;
  private final SerialDelivery delivery;
  private final CopyOnWriteArrayList<Subscriber> subscribers = new CopyOnWriteArrayList<>();
  /** The published snapshot; written only under the lock, read without it. */
  private volatile MtlsMaterial current;
  private final CompletableFuture<MtlsMaterial> ready = new CompletableFuture<>();

  // Guarded by this.
  private boolean started;
  private volatile boolean closed;
  private MaterialSource.Subscription trustSubscription;
  private TrustBundle trust;
  private TrustBundle heldTrust;
  private TlsIdentity pendingIdentity;
  private long identityGeneration;
  private int failures;
  private Exception lastError;
  private MtlsException lastTrustProblem;
  private Instant expiredAt;
  private ClockTimer renewalTask;
  private Instant nextAttempt;
  private ClockTimer expiryTask;
  private Thread issuing;
  private Instant issuingSince;
  private long attempts;
  private IssuanceProgress inProgress;
  private boolean interruptedByClose;
  private MtlsMaterial firstToAnnounce;
  private final Set<String> finalDenialReasons;
  /** Set when the first issuance was denied for a final reason: no attempt follows. */
  private CertificateDeniedException gaveUp;
  private boolean announceGaveUp;

  private CertificateManager(Builder b) {
    this.issuer = b.issuer;
    this.trustSource = b.trustSource;
    this.clock = b.clock;
    this.scheduler = b.scheduler;
    this.jitter = b.jitter;
    this.policy = b.policy;
    this.listener = b.listener;
    this.finalDenialReasons = b.finalDenialReasons;
    this.delivery = new SerialDelivery(b.listenerExecutor == null ? b.scheduler : b.listenerExecutor);
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Starts obtaining the first certificate on the scheduler and subscribes to the trust source.
   *
   * @return completes with the first snapshot; failures are retried, so it completes exceptionally
   *     only if the manager is closed first, or with the {@link CertificateDeniedException} of a
   *     first issuance denied for one of the {@linkplain Builder#finalDenialReasons final reasons}
   * @throws IllegalStateException if already started or closed
   */
  public CompletableFuture<MtlsMaterial> start() {
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("the certificate manager is closed");
      }
      if (started) {
        throw new IllegalStateException("the certificate manager was already started");
      }
      started = true;
      trustSubscription = trustSource.subscribe(new TrustSource.Listener() {
        @Override
        public void onBundle(TrustBundle bundle) {
          onTrustBundle(bundle);
        }

        @Override
        public void onProblem(MtlsException problem) {
          onTrustProblem(problem);
        }
      });
      trustSource.currentIfReady().ifPresent(b -> trust = b);
      LOG.info("certificate manager starting: first issuance now, trust {}", trust == null ? "pending" : trust);
      scheduleAttempt(clock.instant());
    }
    return ready.copy();
  }

  /**
   * Waits, in real time, for the first snapshot.
   *
   * @throws MtlsException          if none arrived in time. The message says where the first
   *                                issuance stands now: the stage of the request in flight (and
   *                                its name, as the issuer reported them), or the last failure and
   *                                when the next attempt starts, or that the identity waits for a
   *                                trust bundle; its cause is the last failure, if any
   * @throws CertificateDeniedException at once, if the first issuance was denied for one of the
   *                                {@linkplain Builder#finalDenialReasons final reasons}: no
   *                                further attempt is made
   * @throws IllegalStateException  if not started, or closed before the first snapshot
   * @throws InterruptedException   if interrupted while waiting
   */
  public MtlsMaterial awaitReady(Duration timeout) throws InterruptedException {
    Objects.requireNonNull(timeout, "timeout");
    synchronized (this) {
      if (!started) {
        throw new IllegalStateException("start() the certificate manager before waiting for it");
      }
    }
    try {
      return ready.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      Exception last;
      String where;
      synchronized (this) {
        last = lastError;
        where = whereTheFirstIssuanceStands();
      }
      throw new MtlsException("no certificate within " + timeout + ": " + where, last);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof CertificateDeniedException denial) {
        throw denial;
      }
      throw new IllegalStateException("the certificate manager stopped before it was ready", e.getCause());
    }
  }

  @Override
  public MtlsMaterial current() {
    MtlsMaterial m = current;
    if (m == null) {
      throw new IllegalStateException("no TLS material yet: the first certificate has not been issued");
    }
    return m;
  }

  @Override
  public Optional<MtlsMaterial> currentIfReady() {
    return Optional.ofNullable(current);
  }

  /**
   * Registers a listener for the snapshots published from now on. It is called from the serial
   * listener queue, outside the manager's lock, in publication order; a snapshot published before
   * this call is not delivered to it (read {@link #current()} after subscribing).
   */
  @Override
  public Subscription subscribe(MaterialListener materialListener) {
    Subscriber s = new Subscriber(Objects.requireNonNull(materialListener, "listener"));
    subscribers.add(s);
    return () -> {
      s.active = false;
      subscribers.remove(s);
    };
  }

  @Override
  public boolean isReady() {
    Optional<MtlsMaterial> m = currentIfReady();
    return m.isPresent() && !closed && clock.instant().isBefore(m.get().identity().notAfter());
  }

  @Override
  public Optional<Duration> timeToExpiry() {
    return currentIfReady().map(m -> Duration.between(clock.instant(), m.identity().notAfter()));
  }

  @Override
  public synchronized Optional<Exception> lastError() {
    return Optional.ofNullable(lastError);
  }

  /** Holds the lock. The story for an {@link #awaitReady} that gives up. */
  private String whereTheFirstIssuanceStands() {
    if (closed) {
      return "the certificate manager was closed";
    }
    if (gaveUp != null) {
      return "gave up, no further attempt: " + gaveUp.getMessage();
    }
    String before = lastError == null ? "" : "; the attempt before failed (" + failures + " in a row): "
        + lastError.getMessage();
    if (issuing != null) {
      String progress = inProgress != null ? inProgress.describe()
          : "the issuer reports no stage; attempt started at " + issuingSince;
      return "issuance in progress, " + progress + before;
    }
    if (pendingIdentity != null) {
      return "issued " + pendingIdentity + ", waiting for the first trust bundle from " + trustSource
          + (lastTrustProblem == null ? "" : "; its last problem: " + lastTrustProblem.getMessage());
    }
    if (lastError != null) {
      return "the last attempt failed (" + failures + " in a row), next attempt at " + nextAttempt + ": "
          + lastError.getMessage();
    }
    return "the first attempt has not started yet (due at " + nextAttempt + ")";
  }

  /** A consistent view of the manager's state. */
  public synchronized Status status() {
    Optional<MtlsMaterial> m = currentIfReady();
    State state;
    if (closed) {
      state = State.CLOSED;
    } else if (!started) {
      state = State.NEW;
    } else if (m.isEmpty()) {
      state = State.STARTING;
    } else {
      state = isReady() ? State.READY : State.EXPIRED;
    }
    return new Status(state, m.map(MtlsMaterial::generation).orElse(0L),
        m.map(x -> x.identity().notAfter()), Optional.ofNullable(nextAttempt), failures,
        Optional.ofNullable(lastError), Optional.ofNullable(trust).map(TrustBundle::sourceVersion),
        Optional.ofNullable(heldTrust).map(TrustBundle::sourceVersion), Optional.ofNullable(lastTrustProblem),
        Optional.ofNullable(inProgress));
  }

  /**
   * Cancels scheduled renewals, interrupts an issuance in flight and unsubscribes from the trust
   * source. The last snapshot stays readable. Closing twice is harmless; the scheduler is not shut
   * down.
   */
  @Override
  public void close() {
    MaterialSource.Subscription subscription;
    synchronized (this) {
      if (closed) {
        return;
      }
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
      subscription = trustSubscription;
      trustSubscription = null;
      LOG.info("certificate manager closed");
    }
    if (subscription != null) {
      subscription.close();
    }
    ready.completeExceptionally(new IllegalStateException("the certificate manager was closed"));
  }

  // ---- the renewal loop ----

  private void attempt() {
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
  private void announceFirst() {
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
    Pairing.Decision decision = Pairing.issued(identity, generation, current, trust, heldTrust, now);
    if (decision instanceof Pairing.Refuse refuse) {
      fail(refuse.reason());
      return;
    }
    identityGeneration = generation;
    if (decision instanceof Pairing.AwaitTrust) {
      // Keep it until the first bundle arrives (onTrustBundle publishes it); renew it on time anyway.
      pendingIdentity = identity;
      succeeded();
      listener(l -> l.issued(identity, Duration.between(began, now)));
      LOG.info("issued {}; waiting for a trust bundle before publishing it", identity);
      scheduleRenewal(identity, now);
      return;
    }
    Pairing.Publish publish = (Pairing.Publish) decision;
    listener(l -> l.issued(identity, Duration.between(began, now)));
    TrustBundle previousTrust = trust;
    publishIdentity(publish.material(), now);
    if (publish.adoptsHeld()) {
      heldTrust = null;
      lastTrustProblem = null;
      TrustBundle adopted = publish.material().trust();
      listener(l -> l.trustChanged(previousTrust, adopted));
      LOG.info("adopted the held trust bundle {} together with the renewed identity", adopted);
    }
  }

  /** Holds the lock. Publishes a snapshot of a new identity that {@link Pairing} found fit. */
  private void publishIdentity(MtlsMaterial next, Instant now) {
    MtlsMaterial previous = currentIfReady().orElse(null);
    TlsIdentity identity = next.identity();
    TrustBundle bundle = next.trust();
    trust = bundle;
    pendingIdentity = null;
    publish(next);
    Instant wasExpiredAt = expiredAt;
    succeeded();
    if (previous == null) {
      LOG.info("ready: published {} with {}", identity, bundle);
      listener(l -> l.ready(next));
      firstToAnnounce = next; // completed outside the lock: callers' callbacks must not run under it
    } else {
      LOG.info("rotated to {}", identity);
      listener(l -> l.rotated(previous, next));
    }
    if (wasExpiredAt != null) {
      Duration downtime = Duration.between(wasExpiredAt, now);
      LOG.info("recovered after {} without a valid certificate", downtime);
      listener(l -> l.recovered(next, downtime));
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
  private void fail(Exception error) {
    failures++;
    lastError = error;
    Instant now = clock.instant();
    Optional<Instant> notAfter = currentIfReady().map(m -> m.identity().notAfter());
    boolean denied = error instanceof CertificateDeniedException;
    if (denied && current == null && pendingIdentity == null
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
      listener(l -> l.gaveUp(denial, attempt));
      return;
    }
    Instant next = policy.retryTime(now, notAfter, failures, denied, sample());
    int attempt = failures;
    if (denied) {
      LOG.warn("certificate request denied (attempt {}), next attempt at {}: {}", attempt, next, error.getMessage());
      listener(l -> l.denied((CertificateDeniedException) error, attempt, next));
    } else {
      LOG.warn("certificate renewal failed (attempt {}), next attempt at {}: {}", attempt, next, error.toString());
      listener(l -> l.renewalFailed(error, attempt, next));
    }
    scheduleAttempt(next);
  }

  private void scheduleRenewal(TlsIdentity identity, Instant now) {
    Instant at = policy.nextRenewal(identity, now, sample());
    scheduleAttempt(at);
    LOG.info("renewal of generation {} scheduled at {}", identity.generation(), at);
    listener(l -> l.renewalScheduled(identity, at));
  }

  /** Holds the lock. Replaces any scheduled attempt. */
  private void scheduleAttempt(Instant at) {
    cancel(renewalTask);
    nextAttempt = at;
    renewalTask = schedule(this::attempt, at);
  }

  private void checkExpiry(TlsIdentity identity) {
    synchronized (this) {
      Optional<MtlsMaterial> m = currentIfReady();
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
    Optional<MtlsMaterial> m = currentIfReady();
    if (m.isEmpty() || expiredAt != null || now.isBefore(m.get().identity().notAfter())) {
      return;
    }
    TlsIdentity identity = m.get().identity();
    expiredAt = identity.notAfter();
    LOG.error("certificate expired: {}; not ready until a renewal succeeds (last error: {})", identity,
        lastError == null ? "none" : lastError.toString());
    listener(l -> l.expired(identity));
  }

  // ---- trust ----

  private void onTrustBundle(TrustBundle bundle) {
    try {
      updateTrust(bundle);
    } finally {
      announceFirst();
    }
  }

  private void updateTrust(TrustBundle bundle) {
    synchronized (this) {
      if (closed) {
        return;
      }
      Optional<MtlsMaterial> m = currentIfReady();
      Instant now = clock.instant();
      if (m.isEmpty()) {
        trust = bundle;
        heldTrust = null;
        lastTrustProblem = null;
        TlsIdentity pending = pendingIdentity;
        if (pending != null) {
          pendingIdentity = null;
          Pairing.Decision decision = Pairing.firstTrust(pending, bundle, now);
          if (decision instanceof Pairing.Publish publish) {
            publishIdentity(publish.material(), now);
          } else {
            fail(((Pairing.Refuse) decision).reason());
          }
        }
        return;
      }
      MtlsMaterial material = m.get();
      Pairing.Decision decision = Pairing.trustChanged(material, bundle, now);
      if (decision instanceof Pairing.Unchanged) {
        if (heldTrust != null) {
          LOG.info("the trust source is back to the bundle in use; dropping the held bundle {}", heldTrust);
          heldTrust = null;
        }
        if (lastTrustProblem != null) {
          LOG.info("the trust source is back to the bundle in use; its problem is over");
          lastTrustProblem = null;
        }
        return;
      }
      if (decision instanceof Pairing.Hold hold) {
        heldTrust = hold.bundle();
        MtlsException problem = hold.reason();
        lastTrustProblem = problem;
        LOG.warn("{}", problem.getMessage());
        listener(l -> l.trustRejected(problem));
        renewSoon(now);
        return;
      }
      MtlsMaterial next = ((Pairing.Publish) decision).material();
      trust = bundle;
      heldTrust = null;
      lastTrustProblem = null;
      publish(next);
      LOG.info("trust bundle changed to {}", bundle);
      listener(l -> l.trustChanged(material.trust(), bundle));
    }
  }

  /** Holds the lock. Brings the next renewal forward to within the first backoff step. */
  private void renewSoon(Instant now) {
    if (issuing != null) {
      return;
    }
    Instant soon = now.plus(policy.failureBackoff(1, sample()));
    if (nextAttempt == null || nextAttempt.isAfter(soon)) {
      LOG.info("renewing early, at {}, to reconcile with the held trust bundle", soon);
      scheduleAttempt(soon);
    }
  }

  private void onTrustProblem(MtlsException problem) {
    synchronized (this) {
      if (closed) {
        return;
      }
      lastTrustProblem = problem;
      LOG.warn("trust source problem, keeping the bundle in use: {}", problem.getMessage());
      listener(l -> l.trustRejected(problem));
    }
  }

  // ---- helpers ----

  private ClockTimer schedule(Runnable task, Instant at) {
    return ClockTimer.start(clock, scheduler, MAX_TIMER_STEP, task, at);
  }

  private static void cancel(ClockTimer t) {
    ClockTimer.cancel(t);
  }

  private double sample() {
    double s = jitter.getAsDouble();
    if (!(s >= 0.0 && s < 1.0)) {
      throw new IllegalStateException("the jitter source returned " + s + ", outside [0, 1)");
    }
    return s;
  }

  /**
   * Holds the lock. Makes {@code next} current at once and queues its delivery to the material
   * listeners subscribed now; they are called later, outside the lock.
   */
  private void publish(MtlsMaterial next) {
    MtlsMaterial previous = current;
    if (previous != null && next.generation() <= previous.generation()) {
      throw new IllegalStateException("generation " + next.generation() + " is not newer than " + previous.generation());
    }
    current = next;
    Object[] to = subscribers.toArray();
    if (to.length == 0) {
      return;
    }
    delivery.submit(() -> {
      for (Object o : to) {
        Subscriber s = (Subscriber) o;
        if (!s.active) {
          continue;
        }
        try {
          s.listener.onMaterial(next);
        } catch (RuntimeException e) {
          LOG.warn("a material listener failed on generation {}", next.generation(), e);
        }
      }
    });
  }

  /** Holds the lock. Queues a call to the manager listener, to run outside the lock in order. */
  private void listener(java.util.function.Consumer<ManagerListener> call) {
    delivery.submit(() -> {
      try {
        call.accept(listener);
      } catch (RuntimeException e) {
        LOG.warn("a manager listener failed", e);
      }
    });
  }

  private static final class Subscriber {
    final MaterialListener listener;
    volatile boolean active = true;

    Subscriber(MaterialListener listener) {
      this.listener = listener;
    }
  }

  /** Options of a {@link CertificateManager}. */
  public static final class Builder {
    private IdentityIssuer issuer;
    private TrustSource trustSource;
    private InstantSource clock = InstantSource.system();
    private ScheduledExecutorService scheduler;
    private Executor listenerExecutor;
    private DoubleSupplier jitter;
    private RotationPolicy policy = RotationPolicy.defaults();
    private ManagerListener listener = ManagerListener.NO_OP;
    private Set<String> finalDenialReasons = Set.of();

    private Builder() {}

    /**
     * Denial reasons that no further attempt can change (the approver's answer depends only on what
     * this workload asks for and who it is). A first issuance denied with one of them ends at once:
     * no further attempt, and {@link CertificateManager#awaitReady} throws the denial. Renewals,
     * with a certificate still being served, keep retrying whatever the reason. None by default
     * (every denial is retried); {@code KubeMtls} passes kube-mtls' approver's final reasons.
     */
    public Builder finalDenialReasons(Collection<String> reasons) {
      this.finalDenialReasons = Set.copyOf(reasons);
      return this;
    }

    /** Obtains each identity (required). */
    public Builder issuer(IdentityIssuer issuer) {
      this.issuer = Objects.requireNonNull(issuer, "issuer");
      return this;
    }

    /** The CAs to trust and their changes (required). */
    public Builder trust(TrustSource trustSource) {
      this.trustSource = Objects.requireNonNull(trustSource, "trustSource");
      return this;
    }

    /** The clock for validity and scheduling; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Runs issuance, timers and, unless a {@link #listenerExecutor} is given, listener calls
     * (required); it is not shut down by the manager. An issuance blocks one of its threads while it
     * waits for the signer, so give it at least two threads (or a listener executor of its own):
     * with one, a trust change reaches the listeners only when a renewal in flight ends.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
      return this;
    }

    /**
     * Where listeners are called: the manager queues every listener call and runs them one at a
     * time, in order, as tasks on this executor (any number of threads), never while it holds its
     * lock. The {@linkplain #scheduler scheduler} by default; give a separate one when listeners
     * may take long, so they do not hold up the scheduler's timers. It is not shut down by the
     * manager.
     */
    public Builder listenerExecutor(Executor listenerExecutor) {
      this.listenerExecutor = Objects.requireNonNull(listenerExecutor, "listenerExecutor");
      return this;
    }

    /** Numbers in {@code [0, 1)} for jitter; a new {@link java.util.SplittableRandom} by default. */
    public Builder jitter(DoubleSupplier jitter) {
      this.jitter = Objects.requireNonNull(jitter, "jitter");
      return this;
    }

    public Builder policy(RotationPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    public Builder listener(ManagerListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** @throws NullPointerException naming a required option that is missing */
    public CertificateManager build() {
      Objects.requireNonNull(issuer, "issuer is required");
      Objects.requireNonNull(trustSource, "trust source is required");
      Objects.requireNonNull(scheduler, "scheduler is required");
      if (jitter == null) {
        java.util.SplittableRandom random = new java.util.SplittableRandom();
        jitter = () -> {
          synchronized (random) {
            return random.nextDouble();
          }
        };
      }
      return new CertificateManager(this);
    }
  }
}
