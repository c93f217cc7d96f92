package dev.kubemtls.core.rotation;

import dev.kubemtls.core.TlsIdentity;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * When to renew a certificate and how long to wait after a failed attempt: pure arithmetic on
 * instants, with no clock, thread or random source of its own.
 *
 * <p>A {@link CertificateManager} holds one policy for its whole life and asks it two questions:
 * after an identity is issued, <em>when should it be renewed?</em>
 * ({@link #nextRenewal(TlsIdentity, Instant, double)}: a point drawn uniformly from the renewal
 * window, by default 70%&ndash;90% of the certificate's lifetime, so replicas issued together do
 * not renew together); and after a failed attempt, <em>when should it try again?</em>
 * ({@link #retryTime(Instant, Optional, int, boolean, double)}). Callers pass the jitter sample,
 * a number in {@code [0, 1)}, so every answer is reproducible.
 *
 * <p>Retry delays grow as {@code min(cap, base * 2^(n-1))} after the n-th consecutive failure
 * (defaults 2 s doubling to 32 s, like client-go's certificate manager) and are jittered
 * ({@link Jitter#EQUAL} by default: between half and all of that delay). A denial by the approver
 * waits much longer ({@link #denialBackoff}, default 5 minutes, jittered the same way), because
 * asking again at once would only create more denied requests. Two clamps keep a workload
 * serving: while the current certificate is valid no retry is scheduled after its
 * {@code notAfter}; once there is no valid certificate, every delay, a denial's included, is
 * capped at the failure cap, so the workload recovers within the cap once issuance works again.
 */
public final class RotationPolicy {

  /** How a backoff delay {@code d} is jittered with a sample {@code s} in {@code [0, 1)}. */
  public enum Jitter {
    /** {@code d * s}: the widest spread, but a retry may come almost at once. */
    FULL,
    /** {@code d/2 + d/2 * s}: never less than half the delay. */
    EQUAL
  }

  public static final double DEFAULT_WINDOW_START = 0.7;
  public static final double DEFAULT_WINDOW_END = 0.9;
  public static final Duration DEFAULT_BACKOFF_BASE = Duration.ofSeconds(2);
  public static final Duration DEFAULT_BACKOFF_CAP = Duration.ofSeconds(32);
  public static final Duration DEFAULT_DENIAL_BACKOFF = Duration.ofMinutes(5);
  public static final Duration DEFAULT_MINIMUM_RENEWAL_DELAY = Duration.ofSeconds(30);

  private static final RotationPolicy DEFAULTS = builder().build();

  private final double windowStart;
  private final double windowEnd;
  private final Duration backoffBase;
  private final Duration backoffCap;
  private final Duration denialBackoff;
  private final Duration minimumRenewalDelay;
  private final Jitter jitter;

  private RotationPolicy(Builder b) {
    this.windowStart = b.windowStart;
    this.windowEnd = b.windowEnd;
    this.backoffBase = b.backoffBase;
    this.backoffCap = b.backoffCap;
    this.denialBackoff = b.denialBackoff;
    this.minimumRenewalDelay = b.minimumRenewalDelay;
    this.jitter = b.jitter;
  }

  /** Renewal at 70%&ndash;90% of the lifetime, backoff 2 s doubling to 32 s, denial 5 min, equal jitter. */
  public static RotationPolicy defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * The instant in the renewal window that {@code sample} selects:
   * {@code notBefore + lifetime * (start + sample * (end - start))}, rounded to the millisecond.
   *
   * @throws IllegalArgumentException if {@code notAfter} is not after {@code notBefore}, or the
   *     sample is outside {@code [0, 1)}
   */
  public Instant renewalTime(Instant notBefore, Instant notAfter, double sample) {
    Objects.requireNonNull(notBefore, "notBefore");
    Objects.requireNonNull(notAfter, "notAfter");
    checkSample(sample);
    if (!notAfter.isAfter(notBefore)) {
      throw new IllegalArgumentException("certificate lifetime is empty: notBefore " + notBefore
          + " is not before notAfter " + notAfter);
    }
    long lifetimeMillis = Duration.between(notBefore, notAfter).toMillis();
    double fraction = windowStart + sample * (windowEnd - windowStart);
    Instant at = notBefore.plusMillis(Math.round(lifetimeMillis * fraction));
    return at.isBefore(notAfter) ? at : notAfter;
  }

  /** {@link #renewalTime(Instant, Instant, double)} of the identity's leaf certificate. */
  public Instant renewalTime(TlsIdentity identity, double sample) {
    return renewalTime(identity.notBefore(), identity.notAfter(), sample);
  }

  /**
   * When to renew an identity that was just obtained at {@code now}: its
   * {@linkplain #renewalTime(TlsIdentity, double) window time}, but not sooner than the smaller of
   * {@link #minimumRenewalDelay()} and half the time the certificate has left. The floor stops a
   * renewal loop when a signer (or clock skew) hands out certificates that are already inside
   * their renewal window; bounding it by half the remaining lifetime keeps a renewal before expiry
   * even for certificates shorter than the minimum delay.
   */
  public Instant nextRenewal(TlsIdentity identity, Instant now, double sample) {
    Objects.requireNonNull(now, "now");
    Instant window = renewalTime(identity, sample);
    Duration left = Duration.between(now, identity.notAfter());
    if (left.isNegative()) {
      return identity.notAfter();
    }
    Duration halfLeft = left.dividedBy(2);
    Instant floor = now.plus(halfLeft.compareTo(minimumRenewalDelay) < 0 ? halfLeft : minimumRenewalDelay);
    return window.isBefore(floor) ? floor : window;
  }

  /**
   * The delay after the {@code attempt}-th consecutive failure: {@code min(cap, base * 2^(attempt-1))},
   * jittered.
   *
   * @throws IllegalArgumentException if attempt is less than 1 or the sample is outside {@code [0, 1)}
   */
  public Duration failureBackoff(int attempt, double sample) {
    if (attempt < 1) {
      throw new IllegalArgumentException("attempt counts from 1, was " + attempt);
    }
    checkSample(sample);
    Duration d = backoffBase;
    for (int i = 1; i < attempt && d.compareTo(backoffCap) < 0; i++) {
      d = d.multipliedBy(2);
    }
    return jittered(min(d, backoffCap), sample);
  }

  /** The delay after the approver denied a request, jittered. */
  public Duration denialBackoff(double sample) {
    checkSample(sample);
    return jittered(denialBackoff, sample);
  }

  /**
   * When to try again after the {@code attempt}-th consecutive failed attempt at {@code now}.
   *
   * @param currentNotAfter the {@code notAfter} of the certificate currently served, or empty if
   *                        there is none yet
   * @param denied          whether the last attempt was denied by the approver (rather than
   *                        failing or timing out)
   */
  public Instant retryTime(Instant now, Optional<Instant> currentNotAfter, int attempt, boolean denied,
      double sample) {
    Objects.requireNonNull(now, "now");
    Objects.requireNonNull(currentNotAfter, "currentNotAfter");
    boolean valid = currentNotAfter.isPresent() && now.isBefore(currentNotAfter.get());
    if (!valid) {
      // Nothing (valid) to serve: recover quickly, whatever the reason.
      return now.plus(failureBackoff(attempt, sample));
    }
    Duration delay = denied ? denialBackoff(sample) : failureBackoff(attempt, sample);
    return min(now.plus(delay), currentNotAfter.get());
  }

  public double windowStart() {
    return windowStart;
  }

  public double windowEnd() {
    return windowEnd;
  }

  public Duration backoffBase() {
    return backoffBase;
  }

  public Duration backoffCap() {
    return backoffCap;
  }

  public Duration denialBackoff() {
    return denialBackoff;
  }

  public Duration minimumRenewalDelay() {
    return minimumRenewalDelay;
  }

  public Jitter jitter() {
    return jitter;
  }

  @Override
  public String toString() {
    return "RotationPolicy[window=" + windowStart + ".." + windowEnd + ", backoff=" + backoffBase + ".."
        + backoffCap + ", denial=" + denialBackoff + ", minimumRenewalDelay=" + minimumRenewalDelay
        + ", jitter=" + jitter + "]";
  }

  private Duration jittered(Duration d, double sample) {
    long nanos = d.toNanos();
    return switch (jitter) {
      case FULL -> Duration.ofNanos((long) (nanos * sample));
      case EQUAL -> Duration.ofNanos(nanos / 2 + (long) ((nanos / 2) * sample));
    };
  }

  private static void checkSample(double sample) {
    if (!(sample >= 0.0 && sample < 1.0)) {
      throw new IllegalArgumentException("jitter sample must be in [0, 1), was " + sample);
    }
  }

  private static Instant min(Instant a, Instant b) {
    return a.isBefore(b) ? a : b;
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /** Options of a {@link RotationPolicy}; {@link #build()} validates them together. */
  public static final class Builder {
    private double windowStart = DEFAULT_WINDOW_START;
    private double windowEnd = DEFAULT_WINDOW_END;
    private Duration backoffBase = DEFAULT_BACKOFF_BASE;
    private Duration backoffCap = DEFAULT_BACKOFF_CAP;
    private Duration denialBackoff = DEFAULT_DENIAL_BACKOFF;
    private Duration minimumRenewalDelay = DEFAULT_MINIMUM_RENEWAL_DELAY;
    private Jitter jitter = Jitter.EQUAL;

    private Builder() {}

    /**
     * Renew at a uniformly drawn fraction of the lifetime between {@code start} and {@code end},
     * where {@code 0 < start <= end < 1}.
     */
    public Builder renewalWindow(double start, double end) {
      this.windowStart = start;
      this.windowEnd = end;
      return this;
    }

    /** Failure backoff: {@code base} after the first failure, doubling up to {@code cap}. */
    public Builder backoff(Duration base, Duration cap) {
      this.backoffBase = Objects.requireNonNull(base, "base");
      this.backoffCap = Objects.requireNonNull(cap, "cap");
      return this;
    }

    /** How long to wait after a denial while the current certificate is still valid. */
    public Builder denialBackoff(Duration delay) {
      this.denialBackoff = Objects.requireNonNull(delay, "delay");
      return this;
    }

    /** The least time between obtaining an identity and renewing it (unless it expires sooner). */
    public Builder minimumRenewalDelay(Duration delay) {
      this.minimumRenewalDelay = Objects.requireNonNull(delay, "delay");
      return this;
    }

    public Builder jitter(Jitter jitter) {
      this.jitter = Objects.requireNonNull(jitter, "jitter");
      return this;
    }

    /** @throws IllegalArgumentException naming the option that is out of range */
    public RotationPolicy build() {
      if (!(windowStart > 0.0 && windowStart <= windowEnd && windowEnd < 1.0)) {
        throw new IllegalArgumentException("renewal window must satisfy 0 < start <= end < 1, was "
            + windowStart + ".." + windowEnd);
      }
      requirePositive("backoff base", backoffBase);
      requirePositive("backoff cap", backoffCap);
      requirePositive("denial backoff", denialBackoff);
      if (backoffCap.compareTo(backoffBase) < 0) {
        throw new IllegalArgumentException("backoff cap " + backoffCap + " is less than the base " + backoffBase);
      }
      if (minimumRenewalDelay.isNegative()) {
        throw new IllegalArgumentException("minimum renewal delay must not be negative, was " + minimumRenewalDelay);
      }
      if (backoffCap.compareTo(Duration.ofDays(1)) > 0 || denialBackoff.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("backoff cap and denial backoff must be at most one day");
      }
      return new RotationPolicy(this);
    }

    private static void requirePositive(String what, Duration d) {
      if (d.isZero() || d.isNegative()) {
        throw new IllegalArgumentException(what + " must be positive, was " + d);
      }
    }
  }
}
