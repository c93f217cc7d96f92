package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WorkQueueTest {

  @Test
  void aKeyAddedWhileProcessingIsProcessedAgainButNeverConcurrently() throws Exception {
    CountDownLatch inside = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch secondRun = new CountDownLatch(1);
    AtomicInteger running = new AtomicInteger();
    AtomicInteger maxRunning = new AtomicInteger();
    AtomicInteger runs = new AtomicInteger();
    try (WorkQueue q = new WorkQueue("t", 4, Duration.ofMillis(1), Duration.ofMillis(10), key -> {
      maxRunning.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        if (runs.incrementAndGet() == 1) {
          inside.countDown();
          release.await(10, TimeUnit.SECONDS);
        } else {
          secondRun.countDown();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        running.decrementAndGet();
      }
      return WorkQueue.Outcome.DONE;
    })) {
      q.add("a");
      assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
      q.add("a");
      q.add("a");
      release.countDown();
      assertThat(secondRun.await(10, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(maxRunning.get()).isEqualTo(1);
    assertThat(runs.get()).isEqualTo(2);
  }

  @Test
  void failuresAreRetriedWithBackoffUntilDone() throws Exception {
    List<Long> attempts = new CopyOnWriteArrayList<>();
    CountDownLatch done = new CountDownLatch(1);
    try (WorkQueue q = new WorkQueue("t", 1, Duration.ofMillis(5), Duration.ofMillis(40), key -> {
      attempts.add(System.nanoTime());
      if (attempts.size() < 5) {
        return WorkQueue.Outcome.RETRY_BACKOFF;
      }
      done.countDown();
      return WorkQueue.Outcome.DONE;
    })) {
      q.add("k");
      assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(attempts).hasSize(5);
    // 5, 10, 20, 40 ms: each wait at least the backoff.
    long[] minimum = {5, 10, 20, 40};
    for (int i = 1; i < attempts.size(); i++) {
      assertThat(TimeUnit.NANOSECONDS.toMillis(attempts.get(i) - attempts.get(i - 1)))
          .isGreaterThanOrEqualTo(minimum[i - 1] - 1);
    }
  }

  @Test
  void anExceptionCountsAsATransientFailure() throws Exception {
    CountDownLatch retried = new CountDownLatch(2);
    try (WorkQueue q = new WorkQueue("t", 1, Duration.ofMillis(1), Duration.ofMillis(5), key -> {
      retried.countDown();
      throw new IllegalStateException("boom");
    })) {
      q.add("k");
      assertThat(retried.await(10, TimeUnit.SECONDS)).isTrue();
    }
  }
}
