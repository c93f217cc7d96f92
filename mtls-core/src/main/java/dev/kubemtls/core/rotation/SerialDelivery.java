package dev.kubemtls.core.rotation;

import java.util.ArrayDeque;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs callbacks one at a time, in the order they were submitted, on an executor that may have
 * many threads: the manager submits under its lock (so the order is the order of its state
 * changes) and the callbacks run later, outside it. One callback runs per executor task, so a
 * shared scheduler interleaves them with its other work.
 */
final class SerialDelivery {

  private static final Logger LOG = LoggerFactory.getLogger(SerialDelivery.class);

  private final Executor executor;
  // Guarded by queue.
  private final ArrayDeque<Runnable> queue = new ArrayDeque<>();
  private boolean scheduled;

  SerialDelivery(Executor executor) {
    this.executor = Objects.requireNonNull(executor, "executor");
  }

  void submit(Runnable callback) {
    synchronized (queue) {
      queue.add(callback);
      if (scheduled) {
        return;
      }
      scheduled = true;
    }
    runLater();
  }

  private void runLater() {
    try {
      executor.execute(this::runOne);
    } catch (RejectedExecutionException e) {
      int dropped;
      synchronized (queue) {
        dropped = queue.size();
        queue.clear();
        scheduled = false;
      }
      LOG.warn("the listener executor refused work (shut down?): {} listener call(s) dropped", dropped);
    }
  }

  private void runOne() {
    Runnable next;
    synchronized (queue) {
      next = queue.poll();
      if (next == null) {
        scheduled = false;
        return;
      }
    }
    try {
      next.run();
    } catch (RuntimeException e) {
      LOG.warn("a certificate manager listener failed", e);
    } finally {
      boolean more;
      synchronized (queue) {
        more = !queue.isEmpty();
        if (!more) {
          scheduled = false;
        }
      }
      if (more) {
        runLater();
      }
    }
  }
}
