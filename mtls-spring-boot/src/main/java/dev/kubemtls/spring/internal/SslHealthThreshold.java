package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.TlsIdentity;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * The expiry warning threshold for Spring Boot's {@code ssl} health that fits short-lived
 * certificates. Spring Boot's default (14 days) would list a 24-hour kube-mtls chain under
 * {@code expiringChains} for its whole life. Unless the application sets
 * {@code management.health.ssl.certificate-validity-warning-threshold}, the threshold is a tenth of
 * the current certificate's lifetime: a chain is reported as expiring only once it is past 90 % of
 * its life, the end of the window in which kube-mtls renews it, i.e. when a renewal is overdue.
 */
public final class SslHealthThreshold {

  /** The share of the lifetime left when a renewal is overdue (the renewal window ends at 90 %). */
  static final int LIFETIME_DIVISOR = 10;

  private SslHealthThreshold() {}

  /** The configured threshold if there is one, else a tenth of the current certificate's lifetime. */
  public static Duration of(Optional<Duration> configured, MaterialSource source) {
    Objects.requireNonNull(source, "source");
    return configured.orElseGet(() -> source.currentIfReady()
        .map(m -> lifetime(m.identity()).dividedBy(LIFETIME_DIVISOR))
        .orElse(Duration.ZERO));
  }

  private static Duration lifetime(TlsIdentity identity) {
    return Duration.between(identity.leaf().getNotBefore().toInstant(), identity.notAfter());
  }
}
