package dev.kubemtls.signer.internal;

import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A deduplicating work queue of keys with per-key exponential backoff, in the manner of client-go's
 * rate-limited work queue: a key is processed by at most one worker at a time; a key added while it
 * is being processed is processed again afterwards; a key that keeps failing waits
 * {@code base * 2^failures}, at most {@code max}, before its next attempt.
 */
public final class WorkQueue implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(WorkQueue.class);

  /** What a handler tells the queue after processing a key. */
  public enum Outcome {
    /** Done: forget the key's failures. */
    DONE,
    /** Try again soon (a conflict): no backoff growth beyond the base. */
    RETRY_NOW,
    /** Try again after backoff (a transient failure). */
    RETRY_BACKOFF
  }

  /** Processes one key. */
  @FunctionalInterface
  public interface Handler {
    Outcome process(String key);
  }

  private final String name;
  private final Handler handler;
  private final Duration base;
  private final Duration max;
  private final ScheduledExecutorService delays;
  private final Thread[] workers;
  private final Object lock = new Object();
  private final LinkedHashSet<String> queue = new LinkedHashSet<>();
  private final Set<String> processing = new HashSet<>();
  private final Set<String> dirty = new HashSet<>();
  private final Map<String, Integer> failures = new HashMap<>();
  private boolean closed;

  public WorkQueue(String name, int workerCount, Duration base, Duration max, Handler handler) {
    this.name = name;
    this.handler = handler;
    this.base = base;
    this.max = max;
    this.delays = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name + "-delays");
      t.setDaemon(true);
      return t;
    });
    this.workers = new Thread[workerCount];
    for (int i = 0; i < workerCount; i++) {
      workers[i] = new Thread(this::work, name + "-worker-" + i);
      workers[i].setDaemon(true);
      workers[i].start();
    }
  }

  /** How many keys wait for a worker (not counting those being processed or waiting out a backoff). */
  public int depth() {
    synchronized (lock) {
      return queue.size();
    }
  }

  /** Queues {@code key} unless it is already waiting. */
  public void add(String key) {
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (processing.contains(key)) {
        dirty.add(key);
        return;
      }
      if (queue.add(key)) {
        lock.notifyAll();
      }
    }
  }

  /** Queues {@code key} after {@code delay}. */
  public void addAfter(String key, Duration delay) {
    if (delay.isZero() || delay.isNegative()) {
      add(key);
      return;
    }
    synchronized (lock) {
      if (closed) {
        return;
      }
    }
    delays.schedule(() -> add(key), delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void work() {
    while (true) {
      String key;
      synchronized (lock) {
        while (!closed && queue.isEmpty()) {
          try {
            lock.wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
        if (closed) {
          return;
        }
        var it = queue.iterator();
        key = it.next();
        it.remove();
        processing.add(key);
      }
      Outcome outcome;
      try {
        outcome = handler.process(key);
      } catch (RuntimeException e) {
        LOG.warn("{}: processing {} failed, will retry: {}", name, key, e.toString());
        outcome = Outcome.RETRY_BACKOFF;
      }
      Duration delay = null;
      synchronized (lock) {
        processing.remove(key);
        switch (outcome) {
          case DONE -> failures.remove(key);
          case RETRY_NOW -> delay = base;
          case RETRY_BACKOFF -> {
            int n = failures.merge(key, 1, Integer::sum);
            long millis = base.toMillis() << Math.min(n - 1, 20);
            delay = Duration.ofMillis(Math.min(millis, max.toMillis()));
          }
        }
        if (dirty.remove(key) && delay == null && !closed) {
          queue.add(key);
          lock.notifyAll();
        }
      }
      if (delay != null) {
        addAfter(key, delay);
      }
    }
  }

  /** Stops the workers; a handler that is running finishes its key first. */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
      queue.clear();
      lock.notifyAll();
    }
    delays.shutdownNow();
    for (Thread t : workers) {
      if (t != Thread.currentThread()) {
        try {
          t.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }
}
