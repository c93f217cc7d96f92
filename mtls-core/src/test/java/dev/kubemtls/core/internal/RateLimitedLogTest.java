package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.AbstractLogger;
import org.junit.jupiter.api.Test;

class RateLimitedLogTest {

  @Test
  void oneWarnPerKeyAndMinuteWithTheCountOfTheRest() {
    Recording logger = new Recording();
    AtomicLong now = new AtomicLong(42);
    RateLimitedLog log = new RateLimitedLog(logger, now::get);

    log.warn("expired", "a expired");
    log.warn("expired", "b expired");
    log.warn("unknown", "c unknown");
    now.addAndGet(TimeUnit.SECONDS.toNanos(59));
    log.warn("expired", "d expired");
    now.addAndGet(TimeUnit.SECONDS.toNanos(1));
    log.warn("expired", "e expired");

    assertThat(logger.warnings).containsExactly("a expired", "c unknown",
        "e expired (2 more like this in the last minute)");
    assertThat(logger.debugs).containsExactly("b expired", "d expired");
  }

  private static final class Recording extends AbstractLogger {
    private static final long serialVersionUID = 1L;
    final List<String> warnings = new CopyOnWriteArrayList<>();
    final List<String> debugs = new CopyOnWriteArrayList<>();

    @Override
    protected String getFullyQualifiedCallerName() {
      return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(Level level, Marker marker, String message, Object[] args,
        Throwable throwable) {
      (level == Level.WARN ? warnings : debugs).add(message);
    }

    @Override public boolean isTraceEnabled() { return true; }
    @Override public boolean isTraceEnabled(Marker marker) { return true; }
    @Override public boolean isDebugEnabled() { return true; }
    @Override public boolean isDebugEnabled(Marker marker) { return true; }
    @Override public boolean isInfoEnabled() { return true; }
    @Override public boolean isInfoEnabled(Marker marker) { return true; }
    @Override public boolean isWarnEnabled() { return true; }
    @Override public boolean isWarnEnabled(Marker marker) { return true; }
    @Override public boolean isErrorEnabled() { return true; }
    @Override public boolean isErrorEnabled(Marker marker) { return true; }
  }
}
