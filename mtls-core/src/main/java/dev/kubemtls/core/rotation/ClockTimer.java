package dev.kubemtls.core.rotation;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a task when an injected clock reaches an instant. It waits on the scheduler in steps of at
 * most {@code maxStep}, reading the clock after each, so a clock that jumps (a test's, or the
 * system's after a suspend) is followed within a step. A task that throws is logged; a scheduler
 * that refuses work (shut down too early) is logged and the timer never fires. Cancelling is final.
 */
final class ClockTimer {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateManager.class);

  private final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final Duration maxStep;
  private final Runnable task;
  private final Instant at;
  // Guarded by this timer.
  private ScheduledFuture<?> step;
  private boolean cancelled;

  private ClockTimer(InstantSource clock, ScheduledExecutorService scheduler, Duration maxStep, Runnable task,
      Instant at) {
    this.clock = clock;
    this.scheduler = scheduler;
    this.maxStep = maxStep;
    this.task = task;
    this.at = at;
  }

  /** Arms a timer that runs {@code task} once the clock reaches {@code at}. */
  static ClockTimer start(InstantSource clock, ScheduledExecutorService scheduler, Duration maxStep, Runnable task,
      Instant at) {
    ClockTimer timer = new ClockTimer(clock, scheduler, maxStep, task, at);
    timer.arm();
    return timer;
  }

  /** Cancels {@code timer} if there is one. */
  static void cancel(ClockTimer timer) {
    if (timer != null) {
      timer.cancel();
    }
  }

  private void arm() {
    long delay = Math.max(0, Duration.between(clock.instant(), at).toNanos());
    boolean due = delay <= maxStep.toNanos();
    synchronized (this) {
      if (cancelled) {
        return;
      }
      try {
        step = scheduler.schedule(due ? this::fire : this::arm, due ? delay : maxStep.toNanos(),
            TimeUnit.NANOSECONDS);
      } catch (RejectedExecutionException e) {
        LOG.error("the scheduler refused certificate manager work: was it shut down before close()?", e);
      }
    }
  }

  private void fire() {
    synchronized (this) {
      if (cancelled) {
        return;
      }
    }
    try {
      task.run();
    } catch (RuntimeException e) {
      LOG.error("certificate manager task failed", e);
    }
  }

  synchronized void cancel() {
    cancelled = true;
    if (step != null) {
      step.cancel(false);
    }
  }
}
