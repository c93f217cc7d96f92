package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.rotation.Health;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * Actuator health of the workload's mTLS identity ({@code /actuator/health/kubeMtls}): UP while the
 * source holds a certificate that is valid now (by the injected clock) and a non-empty trust
 * bundle; DOWN with the reason otherwise (no certificate yet, expired, not yet valid, no trust
 * anchors). A failed renewal while the certificate is still valid stays UP and shows the error as
 * a detail: the workload still serves, and the manager retries.
 */
public final class KubeMtlsHealthIndicator implements HealthIndicator {

  private final MaterialSource source;
  private final InstantSource clock;

  public KubeMtlsHealthIndicator(MaterialSource source, InstantSource clock) {
    this.source = Objects.requireNonNull(source, "source");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public org.springframework.boot.health.contributor.Health health() {
    Optional<MtlsMaterial> current = source.currentIfReady();
    Optional<String> lastError = source instanceof Health h
        ? h.lastError().map(e -> e.getClass().getSimpleName() + ": " + e.getMessage()) : Optional.empty();
    if (current.isEmpty()) {
      org.springframework.boot.health.contributor.Health.Builder down =
          org.springframework.boot.health.contributor.Health.down()
              .withDetail("reason", "no certificate yet: the first one has not been issued");
      lastError.ifPresent(e -> down.withDetail("lastError", e));
      return down.build();
    }
    MtlsMaterial material = current.get();
    TlsIdentity identity = material.identity();
    Instant now = clock.instant();
    org.springframework.boot.health.contributor.Health.Builder b;
    if (!now.isBefore(identity.notAfter())) {
      b = org.springframework.boot.health.contributor.Health.down().withDetail("reason",
          "the certificate expired at " + identity.notAfter() + " and has not been renewed");
    } else if (now.isBefore(identity.notBefore())) {
      b = org.springframework.boot.health.contributor.Health.down().withDetail("reason",
          "the certificate is not valid before " + identity.notBefore() + " (is the clock behind?)");
    } else if (material.trust().certificates().isEmpty()) {
      b = org.springframework.boot.health.contributor.Health.down().withDetail("reason",
          "the trust bundle holds no CA certificate");
    } else {
      b = org.springframework.boot.health.contributor.Health.up();
    }
    b.withDetail("serial", identity.leaf().getSerialNumber().toString(16))
        .withDetail("subject", identity.leaf().getSubjectX500Principal().getName())
        .withDetail("notAfter", identity.notAfter().toString())
        .withDetail("timeToExpiry", Duration.between(now, identity.notAfter()).toString())
        .withDetail("trustAnchors", material.trust().certificates().size())
        .withDetail("generation", material.generation());
    lastError.ifPresent(e -> b.withDetail("lastError", e));
    return b.build();
  }
}
