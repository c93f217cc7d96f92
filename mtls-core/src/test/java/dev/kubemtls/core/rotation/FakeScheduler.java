package dev.kubemtls.core.rotation;

import dev.kubemtls.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A deterministic {@link ScheduledExecutorService}: tasks run on the thread that calls
 * {@link #advanceTo} or {@link #runDue}, in due order, with the {@link MutableClock} set to each
 * task's due time. Nothing runs by itself.
 */
final class FakeScheduler extends AbstractExecutorService implements ScheduledExecutorService {

  private final MutableClock clock;
  private final PriorityQueue<Task> queue = new PriorityQueue<>();
  private long sequence;
  private boolean shutdown;

  FakeScheduler(MutableClock clock) {
    this.clock = clock;
  }

  /** Runs the tasks due now, including those they schedule for now. */
  void runDue() {
    advanceTo(clock.instant());
  }

  void advance(Duration by) {
    advanceTo(clock.instant().plus(by));
  }

  /** Moves time forward to {@code target}, running each task due on the way at its due time. */
  void advanceTo(Instant target) {
    while (true) {
      Task next;
      synchronized (this) {
        next = queue.peek();
        if (next == null || next.due.isAfter(target)) {
          break;
        }
        queue.poll();
      }
      if (next.due.isAfter(clock.instant())) {
        clock.set(next.due);
      }
      next.run();
    }
    if (target.isAfter(clock.instant())) {
      clock.set(target);
    }
  }

  synchronized Optional<Instant> nextDue() {
    return Optional.ofNullable(queue.peek()).map(t -> t.due);
  }

  synchronized List<Instant> pending() {
    List<Instant> out = new ArrayList<>();
    for (Task t : queue) {
      out.add(t.due);
    }
    out.sort(null);
    return out;
  }

  @Override
  public synchronized ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    if (shutdown) {
      throw new java.util.concurrent.RejectedExecutionException("shut down");
    }
    Task t = new Task(command, clock.instant().plusNanos(Math.max(0, unit.toNanos(delay))), sequence++);
    queue.add(t);
    return t;
  }

  @Override
  public void execute(Runnable command) {
    schedule(command, 0, TimeUnit.NANOSECONDS);
  }

  @Override
  public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException("FakeScheduler runs Runnable tasks (schedule(Runnable, ...), execute); the manager schedules nothing else");
  }

  @Override
  public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
    throw new UnsupportedOperationException("FakeScheduler runs Runnable tasks (schedule(Runnable, ...), execute); the manager schedules nothing else");
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException("FakeScheduler runs Runnable tasks (schedule(Runnable, ...), execute); the manager schedules nothing else");
  }

  @Override
  public synchronized void shutdown() {
    shutdown = true;
  }

  @Override
  public synchronized List<Runnable> shutdownNow() {
    shutdown = true;
    List<Runnable> out = new ArrayList<>(queue);
    queue.clear();
    return out;
  }

  @Override
  public synchronized boolean isShutdown() {
    return shutdown;
  }

  @Override
  public synchronized boolean isTerminated() {
    return shutdown && queue.isEmpty();
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return isTerminated();
  }

  private final class Task implements ScheduledFuture<Object>, Runnable {
    private final Runnable command;
    private final Instant due;
    private final long seq;
    private volatile boolean cancelled;
    private volatile boolean done;

    Task(Runnable command, Instant due, long seq) {
      this.command = command;
      this.due = due;
      this.seq = seq;
    }

    @Override
    public void run() {
      if (!cancelled) {
        try {
          command.run();
        } finally {
          done = true;
        }
      }
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(Duration.between(clock.instant(), due));
    }

    @Override
    public int compareTo(Delayed o) {
      Task other = (Task) o;
      int c = due.compareTo(other.due);
      return c != 0 ? c : Long.compare(seq, other.seq);
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      if (done || cancelled) {
        return false;
      }
      cancelled = true;
      synchronized (FakeScheduler.this) {
        queue.remove(this);
      }
      return true;
    }

    @Override
    public boolean isCancelled() {
      return cancelled;
    }

    @Override
    public boolean isDone() {
      return done || cancelled;
    }

    @Override
    public Object get() {
      throw new UnsupportedOperationException("a FakeScheduler task completes only when the test advances the clock; blocking on it would hang");
    }

    @Override
    public Object get(long timeout, TimeUnit unit) {
      throw new UnsupportedOperationException("a FakeScheduler task completes only when the test advances the clock; blocking on it would hang");
    }
  }
}
