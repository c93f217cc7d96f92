package dev.kubemtls.core.internal;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * At most one WARN line per key and minute, for events any peer on the network can cause (refused
 * certificates): the first of each key is logged at once, the ones after it within the minute are
 * counted and the count goes into the next line. Other occurrences go to DEBUG.
 */
public final class RateLimitedLog {

  private static final long INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final Logger log;
  private final LongSupplier nanoTime;
  private final ConcurrentHashMap<Object, Window> windows = new ConcurrentHashMap<>();

  /** {@code nanoTime} is a monotonic clock; {@code System::nanoTime} outside tests. */
  public RateLimitedLog(Logger log, LongSupplier nanoTime) {
    this.log = log;
    this.nanoTime = nanoTime;
  }

  /** Logs {@code line} (a complete message) at WARN unless {@code key} was logged less than a minute ago. */
  public void warn(Object key, String line) {
    long now = nanoTime.getAsLong();
    Window w = windows.computeIfAbsent(key, k -> new Window(now - INTERVAL_NANOS));
    long due = w.nextAt.get();
    if (now - due >= 0 && w.nextAt.compareAndSet(due, now + INTERVAL_NANOS)) {
      long skipped = w.suppressed.getAndSet(0);
      log.warn(skipped == 0 ? line : line + " (" + skipped + " more like this in the last minute)");
    } else {
      w.suppressed.incrementAndGet();
      log.debug(line);
    }
  }

  private static final class Window {
    final AtomicLong nextAt;
    final AtomicLong suppressed = new AtomicLong();

    Window(long nextAt) {
      this.nextAt = new AtomicLong(nextAt);
    }
  }
}
