package dev.kubemtls.signer.internal;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A deduplicating work queue of keys with per-key exponential backoff, in the manner of client-go's
 * rate-limited work queue: a key is processed by at most one worker at a time; a key added while it
 * is being processed is processed again afterwards; a key that keeps failing waits
 * {@code base * 2^failures}, at most {@code max}, before its next attempt.
 *
 * <p>Fairness: every key belongs to a group (for CSRs, the requester), and the workers take keys
 * from the groups in turn. A group below its share ({@code perGroup} keys in progress) is served
 * first; beyond it a group gets a worker only when no group below its share has a key waiting, and
 * never the last {@link #reserve()} idle workers, which stay free for a group that arrives. A
 * requester alone uses (nearly) every worker; a requester that floods the queue while others wait
 * holds its share plus its turns at the rest, and a newcomer always finds a free worker.
 *
 * <p>Every worker survives every failure of one key: whatever the handler throws, an {@link Error}
 * included, is logged, counted ({@link #handlerFailures()}) and retried with backoff, and the worker
 * takes the next key. {@link #stalled} tells whether the queue makes progress, for a readiness probe.
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
  private final Function<String, String> groupOf;
  private final int perGroup;
  private final InstantSource clock;
  private final ScheduledExecutorService delays;
  private final Thread[] workers;
  private final Object lock = new Object();
  /** Every waiting key, for deduplication. */
  private final Set<String> queued = new HashSet<>();
  /** Waiting keys by group, each in arrival order. */
  private final Map<String, LinkedHashSet<String>> waiting = new HashMap<>();
  /** Groups with waiting keys, in the order they get their next turn. */
  private final ArrayDeque<String> turns = new ArrayDeque<>();
  /** Keys being processed, with their group. */
  private final Map<String, String> processing = new HashMap<>();
  /** Keys being processed, counted by group. */
  private final Map<String, Integer> busy = new HashMap<>();
  private final Set<String> dirty = new HashSet<>();
  private final Map<String, Integer> failures = new HashMap<>();
  private final AtomicLong handlerFailures = new AtomicLong();
  private int alive;
  /** When a key last finished. */
  private Instant lastFinish;
  /** When the queue last went from empty to holding keys. */
  private Instant waitingSince;
  private boolean closed;

  /** A queue with one group: no per-group bound. */
  public WorkQueue(String name, int workerCount, Duration base, Duration max, Handler handler) {
    this(name, workerCount, base, max, handler, key -> "", workerCount, InstantSource.system());
  }

  /**
   * @param groupOf  the group of a key (called under the queue's lock: it must be cheap and must not
   *                 call back into the queue)
   * @param perGroup the most keys of one group processed at once, at least 1
   * @param clock    the time source of {@link #stalled}
   */
  public WorkQueue(String name, int workerCount, Duration base, Duration max, Handler handler,
      Function<String, String> groupOf, int perGroup, InstantSource clock) {
    if (perGroup < 1) {
      throw new IllegalArgumentException("perGroup must be at least 1, was " + perGroup);
    }
    this.name = name;
    this.handler = handler;
    this.base = base;
    this.max = max;
    this.groupOf = groupOf;
    this.perGroup = perGroup;
    this.clock = clock;
    this.lastFinish = clock.instant();
    this.waitingSince = lastFinish;
    this.delays = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name + "-delays");
      t.setDaemon(true);
      return t;
    });
    this.workers = new Thread[workerCount];
    this.alive = workerCount;
    for (int i = 0; i < workerCount; i++) {
      workers[i] = new Thread(this::work, name + "-worker-" + i);
      workers[i].setDaemon(true);
      workers[i].start();
    }
  }

  /** Workers a group beyond its share never takes: free for a group that arrives. */
  public int reserve() {
    return Math.max(1, workers.length / 16);
  }

  /** How many keys wait for a worker (not counting those being processed or waiting out a backoff). */
  public int depth() {
    synchronized (lock) {
      return queued.size();
    }
  }

  /** How many times the handler threw instead of returning an outcome. */
  public long handlerFailures() {
    return handlerFailures.get();
  }

  /**
   * Why this queue cannot make progress, or empty when it can: no worker is left, or keys have waited
   * for longer than {@code limit} while no key was finished.
   */
  public Optional<String> stalled(Duration limit) {
    synchronized (lock) {
      if (closed) {
        return Optional.empty();
      }
      if (alive == 0) {
        return Optional.of(name + ": no worker is left");
      }
      if (!queued.isEmpty()) {
        Instant from = lastFinish.isAfter(waitingSince) ? lastFinish : waitingSince;
        Duration since = Duration.between(from, clock.instant());
        if (since.compareTo(limit) > 0) {
          return Optional.of(name + ": " + queued.size() + " keys wait and none was finished for " + since.toSeconds()
              + " s (" + processing.size() + " in progress)");
        }
      }
      return Optional.empty();
    }
  }

  /** Queues {@code key} unless it is already waiting. */
  public void add(String key) {
    synchronized (lock) {
      if (closed) {
        return;
      }
      if (processing.containsKey(key)) {
        dirty.add(key);
        return;
      }
      enqueue(key);
    }
  }

  /** Under the lock. */
  private void enqueue(String key) {
    if (!queued.add(key)) {
      return;
    }
    if (queued.size() == 1) {
      // Keys wait from now on: a stall is measured from here or from the last finish, whichever is later.
      waitingSince = clock.instant();
    }
    String group = groupOf.apply(key);
    waiting.computeIfAbsent(group, g -> {
      turns.addLast(g);
      return new LinkedHashSet<>();
    }).add(key);
    lock.notifyAll();
  }

  /**
   * Under the lock: the next key of the first group in turn that is below its share; else, while
   * more than {@link #reserve()} workers are idle, the next key of the first group in turn; else null.
   */
  private String take() {
    String key = take(false);
    if (key == null && workers.length - processing.size() > reserve()) {
      key = take(true);
    }
    return key;
  }

  private String take(boolean beyondShare) {
    for (int i = 0, n = turns.size(); i < n; i++) {
      String group = turns.pollFirst();
      if (!beyondShare && busy.getOrDefault(group, 0) >= perGroup) {
        turns.addLast(group);
        continue;
      }
      LinkedHashSet<String> keys = waiting.get(group);
      var it = keys.iterator();
      String key = it.next();
      it.remove();
      if (keys.isEmpty()) {
        waiting.remove(group);
      } else {
        turns.addLast(group);
      }
      queued.remove(key);
      processing.put(key, group);
      busy.merge(group, 1, Integer::sum);
      return key;
    }
    return null;
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
    try {
      while (true) {
        String key;
        synchronized (lock) {
          while (true) {
            if (closed) {
              return;
            }
            key = take();
            if (key != null) {
              break;
            }
            try {
              lock.wait();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              return;
            }
          }
        }
        Outcome outcome;
        try {
          outcome = handler.process(key);
          if (outcome == null) {
            throw new NullPointerException("the handler returned no outcome");
          }
        } catch (Throwable e) {
          // Whatever one key does, the worker lives on: an Error (a stack overflow on a hostile input,
          // an assertion) would otherwise end this thread and leave the key "processing" for good.
          handlerFailures.incrementAndGet();
          LOG.warn("{}: processing {} failed, will retry: {}", name, key, Bounded.message(e.toString()));
          outcome = Outcome.RETRY_BACKOFF;
        }
        finish(key, outcome);
      }
    } finally {
      synchronized (lock) {
        alive--;
      }
    }
  }

  private void finish(String key, Outcome outcome) {
    Duration delay = null;
    synchronized (lock) {
      String group = processing.remove(key);
      if (group != null) {
        busy.computeIfPresent(group, (g, n) -> n == 1 ? null : n - 1);
      }
      lastFinish = clock.instant();
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
        enqueue(key);
      }
      // A group below its bound again may have keys waiting.
      lock.notifyAll();
    }
    if (delay != null) {
      addAfter(key, delay);
    }
  }

  /** Stops the workers; a handler that is running finishes its key first. */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
      queued.clear();
      waiting.clear();
      turns.clear();
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
