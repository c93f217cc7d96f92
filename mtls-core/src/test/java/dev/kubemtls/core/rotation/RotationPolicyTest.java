package dev.kubemtls.core.rotation;

import dev.kubemtls.core.TlsIdentity;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class RotationPolicyTest {

  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final RotationPolicy DEFAULTS = RotationPolicy.defaults();

  @ParameterizedTest(name = "lifetime {0}, sample {1} -> renew after {2}")
  @CsvSource({
      // lifetime, sample,   offset from notBefore
      "PT1H,       0.0,      PT42M",         // 70% exactly
      "PT1H,       0.5,      PT48M",         // middle of the window
      "PT1H,       0.999999, PT53M59.999S",  // just below 90%
      "PT24H,      0.0,      PT16H48M",
      "PT24H,      0.25,     PT18H",
      "P365D,      0.0,      P255DT12H",     // a year: 70% = 255.5 days
      "PT15M,      0.0,      PT10M30S",      // kube-controller-manager's shortest (10 min + 5 min backdate)
      "PT10S,      0.5,      PT8S",
      "PT1S,       0.0,      PT0.7S",
      "PT0.002S,   0.0,      PT0.001S",      // millisecond resolution: rounded
  })
  void renewalTimeIsInTheWindow(Duration lifetime, double sample, Duration expectedOffset) {
    assertThat(DEFAULTS.renewalTime(T0, T0.plus(lifetime), sample)).isEqualTo(T0.plus(expectedOffset));
  }

  @ParameterizedTest(name = "window {0}..{1}, sample {2} -> {3}")
  @CsvSource({
      "0.5,  0.5,  0.0,   PT50M",   // a degenerate window is a fixed point
      "0.5,  0.5,  0.9,   PT50M",
      "0.1,  0.2,  0.0,   PT10M",
      "0.1,  0.2,  0.5,   PT15M",
      "0.8,  0.95, 0.0,   PT80M",
  })
  void configuredWindow(double start, double end, double sample, Duration expectedOffset) {
    RotationPolicy p = RotationPolicy.builder().renewalWindow(start, end).build();
    assertThat(p.renewalTime(T0, T0.plus(Duration.ofMinutes(100)), sample)).isEqualTo(T0.plus(expectedOffset));
  }

  @ParameterizedTest(name = "window {0}..{1} is rejected")
  @CsvSource({"0.0, 0.9", "0.7, 1.0", "0.9, 0.7", "-0.1, 0.5", "0.5, 1.5", "NaN, 0.9"})
  void invalidWindowsAreRejected(double start, double end) {
    assertThatThrownBy(() -> RotationPolicy.builder().renewalWindow(start, end).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("renewal window");
  }

  @ParameterizedTest(name = "sample {0} is rejected")
  @CsvSource({"-0.01", "1.0", "1.5", "NaN"})
  void samplesOutsideTheUnitIntervalAreRejected(double sample) {
    assertThatThrownBy(() -> DEFAULTS.renewalTime(T0, T0.plusSeconds(60), sample))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[0, 1)");
    assertThatThrownBy(() -> DEFAULTS.failureBackoff(1, sample)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void emptyLifetimeIsRejected() {
    assertThatThrownBy(() -> DEFAULTS.renewalTime(T0, T0, 0.0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("lifetime is empty");
  }

  @Test
  void invalidBackoffOptionsAreRejected() {
    assertThatThrownBy(() -> RotationPolicy.builder().backoff(Duration.ZERO, Duration.ofSeconds(1)).build())
        .hasMessageContaining("backoff base");
    assertThatThrownBy(() -> RotationPolicy.builder().backoff(Duration.ofSeconds(10), Duration.ofSeconds(5)).build())
        .hasMessageContaining("less than the base");
    assertThatThrownBy(() -> RotationPolicy.builder().denialBackoff(Duration.ofSeconds(-1)).build())
        .hasMessageContaining("denial backoff");
    assertThatThrownBy(() -> RotationPolicy.builder().minimumRenewalDelay(Duration.ofSeconds(-1)).build())
        .hasMessageContaining("minimum renewal delay");
    assertThatThrownBy(() -> DEFAULTS.failureBackoff(0, 0.0)).hasMessageContaining("attempt counts from 1");
  }

  static Stream<Arguments> backoffTable() {
    return Stream.of(
        // jitter, sample, delays after attempts 1..8
        Arguments.of(RotationPolicy.Jitter.EQUAL, 0.0, List.of(1L, 2L, 4L, 8L, 16L, 16L, 16L, 16L)),
        Arguments.of(RotationPolicy.Jitter.EQUAL, 0.5, List.of(1500L, 3000L, 6000L, 12000L, 24000L, 24000L, 24000L, 24000L)),
        Arguments.of(RotationPolicy.Jitter.FULL, 0.5, List.of(1L, 2L, 4L, 8L, 16L, 16L, 16L, 16L)),
        Arguments.of(RotationPolicy.Jitter.FULL, 0.0, List.of(0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L)));
  }

  @ParameterizedTest(name = "{0} jitter, sample {1}")
  @MethodSource("backoffTable")
  void backoffDoublesToTheCap(RotationPolicy.Jitter jitter, double sample, List<Long> expected) {
    RotationPolicy p = RotationPolicy.builder().jitter(jitter).build();
    // Values below 1000 are seconds, larger ones milliseconds: keeps the table readable.
    for (int attempt = 1; attempt <= expected.size(); attempt++) {
      long e = expected.get(attempt - 1);
      Duration want = e >= 1000 ? Duration.ofMillis(e) : Duration.ofSeconds(e);
      assertThat(p.failureBackoff(attempt, sample)).as("attempt %d", attempt).isEqualTo(want);
    }
  }

  @Test
  void backoffNearTheTopOfTheSampleRangeStaysBelowTheUnjitteredDelay() {
    for (int attempt = 1; attempt < 10; attempt++) {
      Duration d = DEFAULTS.failureBackoff(attempt, 0.999999);
      assertThat(d).isLessThan(Duration.ofSeconds(Math.min(32, 2L << (attempt - 1))))
          .isGreaterThan(Duration.ofSeconds(Math.min(32, 2L << (attempt - 1))).multipliedBy(99).dividedBy(100));
    }
  }

  @Test
  void hugeAttemptCountsDoNotOverflow() {
    assertThat(DEFAULTS.failureBackoff(Integer.MAX_VALUE, 0.0)).isEqualTo(Duration.ofSeconds(16));
  }

  @ParameterizedTest(name = "denial backoff {0}, sample {1} -> {2}")
  @CsvSource({"PT5M, 0.0, PT2M30S", "PT5M, 0.5, PT3M45S", "PT10M, 0.0, PT5M"})
  void denialBacksOffMuchLonger(Duration configured, double sample, Duration expected) {
    RotationPolicy p = RotationPolicy.builder().denialBackoff(configured).build();
    assertThat(p.denialBackoff(sample)).isEqualTo(expected);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      // case,                                   notAfter in (empty = none), attempt, denied, expected delay
      "'failure, long validity',                 PT1H,   1, false, PT1S",
      "'failure, attempt 5',                     PT1H,   5, false, PT16S",
      "'failure clamped to notAfter',            PT3S,   5, false, PT3S",
      "'denial, long validity',                  PT1H,   1, true,  PT2M30S",
      "'denial clamped to notAfter',             PT1M,   1, true,  PT1M",
      "'denial without a certificate uses cap',  '',     9, true,  PT16S",
      "'denial after expiry uses failure backoff', -PT1S, 1, true, PT1S",
      "'failure after expiry keeps the cap',     -PT1H, 12, false, PT16S",
      "'failure at exactly notAfter',            PT0S,   3, false, PT4S",
  })
  void retryTimes(String name, String notAfterOffset, int attempt, boolean denied, Duration expectedDelay) {
    Optional<Instant> notAfter = notAfterOffset.isEmpty()
        ? Optional.empty() : Optional.of(T0.plus(Duration.parse(notAfterOffset)));
    assertThat(DEFAULTS.retryTime(T0, notAfter, attempt, denied, 0.0)).isEqualTo(T0.plus(expectedDelay));
  }

  @Test
  void nextRenewalHasAFloorAgainstRenewalLoops() {
    KeyPair kp = TestCa.newKeyPair();
    TestCa ca = TestCa.create("ca", T0.minus(Duration.ofDays(1)), Duration.ofDays(30));
    // Issued 50 minutes ago for an hour: already past its window.
    TlsIdentity late = new TlsIdentity(kp.getPrivate(),
        List.of(ca.leaf(kp.getPublic()).validity(T0.minus(Duration.ofMinutes(50)), Duration.ofHours(1)).build()), 1);
    assertThat(DEFAULTS.nextRenewal(late, T0, 0.0)).isEqualTo(T0.plusSeconds(30));
    // Expires in 5 seconds: renew halfway to notAfter, never at or after it.
    TlsIdentity dying = new TlsIdentity(kp.getPrivate(),
        List.of(ca.leaf(kp.getPublic()).validity(T0.minus(Duration.ofMinutes(60)).plusSeconds(5), Duration.ofHours(1))
            .build()), 1);
    assertThat(DEFAULTS.nextRenewal(dying, T0, 0.0)).isEqualTo(T0.plusMillis(2500));
    // Shorter-lived than the minimum delay (a 25 s certificate, as in the demo): the window decides,
    // so it renews at 70-90% of its lifetime and not at expiry.
    TlsIdentity shortLived = new TlsIdentity(kp.getPrivate(),
        List.of(ca.leaf(kp.getPublic()).validity(T0, Duration.ofSeconds(25)).build()), 1);
    assertThat(DEFAULTS.nextRenewal(shortLived, T0, 0.0)).isEqualTo(T0.plusMillis(17_500));
    assertThat(DEFAULTS.nextRenewal(shortLived, T0, 0.999)).isBefore(T0.plusSeconds(25));
    // Already expired: nothing to wait for.
    assertThat(DEFAULTS.nextRenewal(shortLived, T0.plusSeconds(30), 0.0)).isEqualTo(T0.plusSeconds(25));
    // Fresh: the window decides.
    TlsIdentity fresh = new TlsIdentity(kp.getPrivate(),
        List.of(ca.leaf(kp.getPublic()).validity(T0, Duration.ofHours(1)).build()), 1);
    assertThat(DEFAULTS.nextRenewal(fresh, T0, 0.0)).isEqualTo(T0.plus(Duration.ofMinutes(42)));
  }
}
