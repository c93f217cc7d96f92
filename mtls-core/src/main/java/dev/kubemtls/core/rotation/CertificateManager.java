package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustSource;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 * serial queue on the {@linkplain CertificateManagerBuilder#listenerExecutor listener executor} (the scheduler by
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


  private final RenewalLoop loop;
  private final TrustReconciliation trustReconciliation;
  private final InstantSource clock;

  CertificateManager(CertificateManagerBuilder b) {
    this.loop = new RenewalLoop(b);
    this.trustReconciliation = new TrustReconciliation(loop);
    this.clock = b.clock;
  }

  /** The options of a new manager; see {@link CertificateManagerBuilder}. */
  public static CertificateManagerBuilder builder() {
    return new CertificateManagerBuilder();
  }

  /**
   * Starts obtaining the first certificate on the scheduler and subscribes to the trust source.
   *
   * @return completes with the first snapshot; failures are retried, so it completes exceptionally
   *     only if the manager is closed first, or with the {@link CertificateDeniedException} of a
   *     first issuance denied for one of the {@linkplain CertificateManagerBuilder#finalDenialReasons final reasons}
   * @throws IllegalStateException if already started or closed
   */
  public CompletableFuture<MtlsMaterial> start() {
    synchronized (loop) {
      if (loop.closed) {
        throw new IllegalStateException("the certificate manager is closed");
      }
      if (loop.started) {
        throw new IllegalStateException("the certificate manager was already started");
      }
      loop.started = true;
      loop.trustSubscription = loop.trustSource.subscribe(trustReconciliation);
      loop.trustSource.currentIfReady().ifPresent(b -> loop.trust = b);
      LOG.info("certificate manager starting: first issuance now, trust {}", loop.trust == null ? "pending" : loop.trust);
      loop.scheduleAttempt(clock.instant());
    }
    return loop.ready.copy();
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
   *                                {@linkplain CertificateManagerBuilder#finalDenialReasons final reasons}: no
   *                                further attempt is made
   * @throws IllegalStateException  if not started, or closed before the first snapshot
   * @throws InterruptedException   if interrupted while waiting
   */
  public MtlsMaterial awaitReady(Duration timeout) throws InterruptedException {
    Objects.requireNonNull(timeout, "timeout");
    synchronized (loop) {
      if (!loop.started) {
        throw new IllegalStateException("start() the certificate manager before waiting for it");
      }
    }
    try {
      return loop.ready.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      Exception last;
      String where;
      synchronized (loop) {
        last = loop.lastError;
        where = ManagerDiagnostics.whereTheFirstIssuanceStands(loop);
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
    MtlsMaterial m = loop.announcer.currentIfReady().orElse(null);
    if (m == null) {
      throw new IllegalStateException("no TLS material yet: the first certificate has not been issued");
    }
    return m;
  }

  @Override
  public Optional<MtlsMaterial> currentIfReady() {
    return loop.announcer.currentIfReady();
  }

  /**
   * Registers a listener for the snapshots published from now on. It is called from the serial
   * listener queue, outside the manager's lock, in publication order; a snapshot published before
   * this call is not delivered to it (read {@link #current()} after subscribing).
   */
  @Override
  public Subscription subscribe(MaterialListener materialListener) {
    return loop.announcer.subscribe(materialListener);
  }

  @Override
  public boolean isReady() {
    Optional<MtlsMaterial> m = currentIfReady();
    return m.isPresent() && !loop.closed && clock.instant().isBefore(m.get().identity().notAfter());
  }

  @Override
  public Optional<Duration> timeToExpiry() {
    return currentIfReady().map(m -> Duration.between(clock.instant(), m.identity().notAfter()));
  }

  @Override
  public Optional<Exception> lastError() {
    synchronized (loop) {
      return Optional.ofNullable(loop.lastError);
    }
  }

  /** A consistent view of the manager's state. */
  public Status status() {
    synchronized (loop) {
      return ManagerDiagnostics.status(loop, isReady());
    }
  }

  /**
   * Cancels scheduled renewals, interrupts an issuance in flight and unsubscribes from the trust
   * source. The last snapshot stays readable. Closing twice is harmless; the scheduler is not shut
   * down.
   */
  @Override
  public void close() {
    MaterialSource.Subscription subscription;
    synchronized (loop) {
      if (loop.closed) {
        return;
      }
      loop.stop();
      subscription = loop.trustSubscription;
      loop.trustSubscription = null;
      LOG.info("certificate manager closed");
    }
    if (subscription != null) {
      subscription.close();
    }
    loop.ready.completeExceptionally(new IllegalStateException("the certificate manager was closed"));
  }
}
