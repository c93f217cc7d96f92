package dev.kubemtls.jdbc;

import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.HikariPoolMXBean;
import dev.kubemtls.core.MaterialSource;
import java.net.Socket;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retires the connections of a HikariCP pool that were made under superseded material, without
 * failing work in progress.
 *
 * <p><b>When.</b> A check runs at once (on the scheduler) after each new snapshot of the client's
 * source and every {@code checkEvery} (10 seconds unless given). It asks
 * {@link dev.kubemtls.core.tls.MtlsJdkTls#retirementReason} about every open connection of the
 * registration: a connection must go when the CA its server's chain ended in has left the trust
 * bundle, when the server certificate it saw has expired, or (only if the client was built with
 * {@code retireOnRenewal(true)}) when the client certificate it presented has been renewed.
 *
 * <p><b>How.</b> If at least one open connection must go and it was not already handled, the pool is
 * <em>soft-evicted</em> ({@link HikariPoolMXBean#softEvictConnections()}): every connection idle at
 * that moment is closed now and never handed out again; every connection in use is closed when the
 * application returns it to the pool, so a query or transaction in progress finishes on its
 * connection. HikariCP gives no way to evict one idle physical connection, so every connection open
 * at that moment goes, including ones made under current material; the pool refills itself with
 * connections under the current snapshot. The bound: an idle connection made under superseded
 * material is closed at most {@code checkEvery} after the snapshot that superseded it (at once on a
 * trust change) or after its server certificate expired; a borrowed one when it is returned. A
 * connection whose handshake completed less than {@code checkEvery} before an eviction may not have
 * been in the pool yet; if it is still open and must be retired at a later check, the pool is
 * soft-evicted again.
 */
public final class HikariRetirement implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(HikariRetirement.class);

  private final HikariDataSource pool;
  private final MtlsPostgres.Registration registration;
  private final ScheduledExecutorService scheduler;
  private final boolean ownScheduler;
  private final MaterialSource.Subscription subscription;
  private final ScheduledFuture<?> periodic;
  private final Set<Socket> handled = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));
  private final long settleNanos;
  private final AtomicLong evictions = new AtomicLong();
  private final AtomicLong retired = new AtomicLong();
  private volatile boolean closed;

  private HikariRetirement(HikariDataSource pool, MtlsPostgres.Registration registration,
      Duration checkEvery, ScheduledExecutorService scheduler, boolean ownScheduler) {
    this.pool = pool;
    this.registration = registration;
    this.scheduler = scheduler;
    this.ownScheduler = ownScheduler;
    this.settleNanos = checkEvery.toNanos();
    this.subscription = registration.tls().onMaterialChange(m -> submit());
    long millis = checkEvery.toMillis();
    this.periodic = scheduler.scheduleWithFixedDelay(this::checkSafely, millis, millis, TimeUnit.MILLISECONDS);
  }

  /** Installs retirement for {@code pool}, checking every 10 seconds on its own daemon thread. */
  public static HikariRetirement install(HikariDataSource pool, MtlsPostgres.Registration registration) {
    return install(pool, registration, Duration.ofSeconds(10));
  }

  /** As {@link #install(HikariDataSource, MtlsPostgres.Registration)}, checking every {@code checkEvery}. */
  public static HikariRetirement install(HikariDataSource pool, MtlsPostgres.Registration registration,
      Duration checkEvery) {
    ScheduledExecutorService own = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "kube-mtls-hikari-retirement-" + registration.name());
      t.setDaemon(true);
      return t;
    });
    return create(pool, registration, checkEvery, own, true);
  }

  /**
   * As {@link #install(HikariDataSource, MtlsPostgres.Registration, Duration)}, on {@code scheduler}
   * (not shut down by {@link #close()}).
   */
  public static HikariRetirement install(HikariDataSource pool, MtlsPostgres.Registration registration,
      Duration checkEvery, ScheduledExecutorService scheduler) {
    return create(pool, registration, checkEvery, Objects.requireNonNull(scheduler, "scheduler"), false);
  }

  private static HikariRetirement create(HikariDataSource pool, MtlsPostgres.Registration registration,
      Duration checkEvery, ScheduledExecutorService scheduler, boolean own) {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(registration, "registration");
    Objects.requireNonNull(checkEvery, "checkEvery");
    if (checkEvery.isNegative() || checkEvery.isZero()) {
      throw new IllegalArgumentException("checkEvery must be positive, was " + checkEvery);
    }
    return new HikariRetirement(pool, registration, checkEvery, scheduler, own);
  }

  private void submit() {
    if (!closed) {
      try {
        scheduler.execute(this::checkSafely);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // shutting down
      }
    }
  }

  private void checkSafely() {
    try {
      check();
    } catch (RuntimeException e) {
      LOG.warn("kube-mtls: checking the connections of pool {} for retirement failed: {}",
          pool.getPoolName(), e.toString());
    }
  }

  /** Runs one check now, on the calling thread; returns how many connections were found to retire. */
  public synchronized int check() {
    if (closed || pool.isClosed()) {
      return 0;
    }
    List<MtlsPostgres.Retiring> retiring = registration.mustRetire();
    List<MtlsPostgres.Retiring> fresh = retiring.stream().filter(r -> !handled.contains(r.socket())).toList();
    if (fresh.isEmpty()) {
      return 0;
    }
    List<Map.Entry<javax.net.ssl.SSLSocket, MtlsPostgres.Handshaken>> open = registration.open();
    long now = System.nanoTime();
    for (Map.Entry<javax.net.ssl.SSLSocket, MtlsPostgres.Handshaken> e : open) {
      // A connection whose handshake completed just now may not be in the pool yet, and then the
      // eviction below misses it: only one older than a check period counts as handled.
      if (now - e.getValue().nanos() >= settleNanos) {
        handled.add(e.getKey());
      }
    }
    HikariPoolMXBean mx = pool.getHikariPoolMXBean();
    if (mx == null) {
      return 0;
    }
    mx.softEvictConnections();
    evictions.incrementAndGet();
    retired.addAndGet(fresh.size());
    LOG.info("kube-mtls: soft-evicted pool {} ({} open connections; idle ones now, busy ones when"
        + " returned) because {} must be retired: {}", pool.getPoolName(), open.size(), fresh.size(),
        fresh.get(0).reason());
    return fresh.size();
  }

  /** How many times the pool was soft-evicted. */
  public long evictions() {
    return evictions.get();
  }

  /** How many connections were found to retire, over all checks. */
  public long retired() {
    return retired.get();
  }

  /** Stops checking; the pool is not touched. */
  @Override
  public void close() {
    closed = true;
    subscription.close();
    periodic.cancel(false);
    if (ownScheduler) {
      scheduler.shutdownNow();
    }
  }
}
