package dev.kubemtls.core.rotation;

import java.time.Duration;
import java.util.Optional;

/**
 * Whether a workload can take part in mTLS right now, for readiness probes and dashboards.
 *
 * <p>A {@link CertificateManager} is ready while it holds a certificate that has not expired (by
 * its injected clock) and a trust bundle. It stays ready through failed renewals for as long as
 * the current certificate lasts, and becomes ready again by itself once a renewal succeeds.
 */
public interface Health {

  /** Holds an unexpired certificate and a trust bundle. */
  boolean isReady();

  /** Time until the current certificate expires (negative once it has), empty before the first one. */
  Optional<Duration> timeToExpiry();

  /** The most recent failure that has not been followed by a success, if any. */
  Optional<Exception> lastError();
}
