package dev.kubemtls.signer.internal;

import dev.kubemtls.signer.SignerConfig;
import java.time.Duration;
import java.util.Objects;

/**
 * How long the certificates a {@link CertificateAuthority} issues are valid.
 *
 * <p>The lifetime is the request's {@code spec.expirationSeconds} clamped to
 * {@code [minTtl, maxTtl]}; a request without one gets {@code maxTtl}. {@code maxTtl} may be below
 * the API's 600-second floor for {@code expirationSeconds}: a demo or a test can then rotate
 * certificates every minute. {@code notBefore} is moved back by {@code backdate} to tolerate clock
 * skew between the signer and the peers, but by at most half the lifetime, so that a consumer that
 * renews at 70-90% of {@code notBefore..notAfter} never renews before the certificate was issued.
 *
 * @param minTtl   the shortest lifetime issued; positive
 * @param maxTtl   the longest lifetime issued; at least {@code minTtl}, at most {@link #MAX_TTL_CEILING}
 * @param backdate how far {@code notBefore} is moved into the past; zero or positive
 */
public record ValidityPolicy(Duration minTtl, Duration maxTtl, Duration backdate) {

  /**
   * The longest lifetime any configuration may issue: 30 days. Certificates of this signer are
   * renewed automatically and cannot be revoked, so their lifetime is the window a stolen key stays
   * useful; a former CA also stays trusted for {@code maxTtl} plus a margin after a CA rotation, so a
   * longer lifetime would stretch every rotation as well.
   */
  public static final Duration MAX_TTL_CEILING = Duration.ofDays(30);

  /** Ten minutes to 24 hours, backdated by 5 minutes: the kube-controller-manager defaults, capped at a day. */
  public static final ValidityPolicy DEFAULT =
      new ValidityPolicy(Duration.ofMinutes(10), Duration.ofHours(24), Duration.ofMinutes(5));

  /** The limits a signer configuration sets ({@code --min-ttl}, {@code --max-ttl}, {@code --backdate}). */
  public static ValidityPolicy of(SignerConfig config) {
    return new ValidityPolicy(config.minTtl(), config.maxTtl(), config.backdate());
  }

  /** Validates the limits. */
  public ValidityPolicy {
    Objects.requireNonNull(minTtl, "minTtl");
    Objects.requireNonNull(maxTtl, "maxTtl");
    Objects.requireNonNull(backdate, "backdate");
    if (minTtl.isNegative() || minTtl.isZero()) {
      throw new IllegalArgumentException("minTtl must be positive, was " + minTtl);
    }
    if (maxTtl.compareTo(MAX_TTL_CEILING) > 0) {
      throw new IllegalArgumentException("maxTtl " + maxTtl + " is above the ceiling of " + MAX_TTL_CEILING.toDays()
          + " days");
    }
    if (maxTtl.compareTo(minTtl) < 0) {
      throw new IllegalArgumentException("maxTtl " + maxTtl + " is below minTtl " + minTtl);
    }
    if (backdate.isNegative()) {
      throw new IllegalArgumentException("backdate must not be negative, was " + backdate);
    }
  }

  /** The lifetime granted for a request that asked for {@code requestedSeconds} (null: not stated). */
  public Duration lifetime(Integer requestedSeconds) {
    if (requestedSeconds == null) {
      return maxTtl;
    }
    Duration requested = Duration.ofSeconds(Math.max(0, requestedSeconds));
    if (requested.compareTo(minTtl) < 0) {
      return minTtl;
    }
    return requested.compareTo(maxTtl) > 0 ? maxTtl : requested;
  }

  /** The backdate applied to a certificate of the given lifetime: at most half of it. */
  public Duration backdateFor(Duration lifetime) {
    Duration half = lifetime.dividedBy(2);
    return backdate.compareTo(half) > 0 ? half : backdate;
  }
}
