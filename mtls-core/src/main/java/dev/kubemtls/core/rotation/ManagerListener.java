package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import java.time.Duration;
import java.time.Instant;

/**
 * What a {@link CertificateManager} tells the outside world: the hook for metrics, events and
 * alerts. Every method has a no-op default; implement those you need.
 *
 * <p>Each outcome is reported once, by exactly one method, in the order it happened. The manager
 * decides under its lock and queues the call; the calls run afterwards, outside the lock, one at a
 * time, on the manager's listener executor, in the same serial queue as its material listeners (so
 * {@code rotated} comes after the new snapshot was handed to them). Each call carries the values it
 * is about; the manager may have moved on by the time it runs, so {@link CertificateManager#status()}
 * read from a listener can be newer than the event. A slow listener delays only the calls after it,
 * never the manager; an exception thrown by a listener is logged and otherwise ignored.
 *
 * <p>The sequence for a healthy workload is {@code issued, ready, renewalScheduled}, then
 * {@code issued, rotated, renewalScheduled} at every renewal. A failed renewal reports
 * {@code renewalFailed} (or {@code denied}) with the next retry time; if the certificate runs out
 * first, {@code expired}; the next success reports {@code issued, rotated, recovered}.
 */
public interface ManagerListener {

  /** The listener that ignores everything. */
  ManagerListener NO_OP = new ManagerListener() { };

  /**
   * One listener that tells each of {@code listeners}, in order; one that throws is logged and does
   * not keep the others from being told. {@link #NO_OP}s are left out: none left gives {@link #NO_OP},
   * one gives that listener itself.
   */
  static ManagerListener all(ManagerListener... listeners) {
    return all(java.util.List.of(listeners));
  }

  /** As {@link #all(ManagerListener...)}, for a list (which is copied). */
  static ManagerListener all(java.util.List<? extends ManagerListener> listeners) {
    return dev.kubemtls.core.internal.CompositeListeners.manager(listeners);
  }

  /** The issuer returned an identity that passed the manager's checks; {@code took} by the manager's clock. */
  default void issued(TlsIdentity identity, Duration took) {}

  /** The first snapshot was published: the manager is ready. */
  default void ready(MtlsMaterial material) {}

  /** A renewed identity replaced the previous one. */
  default void rotated(MtlsMaterial previous, MtlsMaterial current) {}

  /** The next renewal of {@code identity} will start at {@code at}. */
  default void renewalScheduled(TlsIdentity identity, Instant at) {}

  /**
   * The {@code attempt}-th consecutive attempt failed (not a denial); the current material, if
   * any, is still served, and the next attempt starts at {@code nextAttempt}.
   */
  default void renewalFailed(Exception error, int attempt, Instant nextAttempt) {}

  /** The approver denied the {@code attempt}-th consecutive attempt; the next starts at {@code nextAttempt}. */
  default void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {}

  /**
   * The first issuance was denied for a reason that no further attempt can change (one of the
   * manager's {@linkplain CertificateManagerBuilder#finalDenialReasons final denial reasons}): the
   * manager makes no further attempt and {@link CertificateManager#awaitReady} throws {@code denial}.
   */
  default void gaveUp(CertificateDeniedException denial, int attempt) {}

  /** The current certificate reached its {@code notAfter} without a replacement: no longer ready. */
  default void expired(TlsIdentity identity) {}

  /** After an expiry, a new identity was published; {@code downtime} since the expiry. */
  default void recovered(MtlsMaterial material, Duration downtime) {}

  /** A snapshot with a new trust bundle (and the same or a new identity) was published. */
  default void trustChanged(TrustBundle previous, TrustBundle current) {}

  /**
   * A trust bundle was not used: the source reported a problem, or the current identity does not
   * chain to the new bundle. The previous bundle stays in use.
   */
  default void trustRejected(MtlsException problem) {}
}
