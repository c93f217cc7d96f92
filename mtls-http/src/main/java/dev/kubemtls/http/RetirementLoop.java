package dev.kubemtls.http;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs a pool check at once after each new snapshot and every {@code every}, on one daemon thread. */
final class RetirementLoop implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(RetirementLoop.class);

  private final ScheduledExecutorService scheduler;
  private final MaterialSource.Subscription subscription;
  private final Runnable check;
  private final String name;

  RetirementLoop(MtlsJdkTls tls, Duration every, String name, Runnable check) {
    Objects.requireNonNull(every, "checkEvery");
    if (every.isNegative() || every.isZero()) {
      throw new IllegalArgumentException("checkEvery must be positive, was " + every);
    }
    this.check = check;
    this.name = name;
    this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "kube-mtls-" + name + "-retirement");
      t.setDaemon(true);
      return t;
    });
    this.subscription = tls.onMaterialChange(m -> submit());
    scheduler.scheduleWithFixedDelay(this::run, every.toMillis(), every.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void submit() {
    try {
      scheduler.execute(this::run);
    } catch (RejectedExecutionException e) {
      // closed
    }
  }

  private void run() {
    try {
      check.run();
    } catch (RuntimeException e) {
      LOG.warn("kube-mtls {}: checking pooled connections for retirement failed: {}", name, e.toString());
    }
  }

  @Override
  public void close() {
    subscription.close();
    scheduler.shutdownNow();
  }
}
