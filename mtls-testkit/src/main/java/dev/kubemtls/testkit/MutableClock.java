package dev.kubemtls.testkit;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * A clock for tests that moves only when told to. Thread-safe. It is both a {@link Clock} and an
 * {@link InstantSource}, so it can be injected wherever production code takes either.
 */
public final class MutableClock extends Clock implements InstantSource {

  private volatile Instant now;

  public MutableClock(Instant start) {
    this.now = Objects.requireNonNull(start, "start");
  }

  /** A clock starting at the real current time. */
  public static MutableClock startingNow() {
    return new MutableClock(Clock.systemUTC().instant());
  }

  @Override
  public Instant instant() {
    return now;
  }

  @Override
  public long millis() {
    return now.toEpochMilli();
  }

  public synchronized Instant advance(Duration by) {
    if (by.isNegative()) {
      throw new IllegalArgumentException("time does not run backwards in tests: " + by);
    }
    now = now.plus(by);
    return now;
  }

  public synchronized void set(Instant instant) {
    now = Objects.requireNonNull(instant, "instant");
  }

  @Override
  public ZoneId getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    if (ZoneOffset.UTC.equals(zone)) {
      return this;
    }
    throw new UnsupportedOperationException("MutableClock is UTC only");
  }
}
