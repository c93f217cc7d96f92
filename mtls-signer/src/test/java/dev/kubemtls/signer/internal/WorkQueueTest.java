package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.testkit.MutableClock;
import java.time.Duration;
import java.time.InstantSource;
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

  @Test
  void aWorkerSurvivesAnErrorAndGoesOnWithTheNextKey() throws Exception {
    CountDownLatch next = new CountDownLatch(1);
    CountDownLatch retried = new CountDownLatch(1);
    AtomicInteger boomRuns = new AtomicInteger();
    // One worker: if an Error ended it, "next" would never run.
    try (WorkQueue q = new WorkQueue("t", 1, Duration.ofMillis(1), Duration.ofMillis(5), key -> {
      if (key.equals("boom")) {
        if (boomRuns.incrementAndGet() == 2) {
          retried.countDown();
          return WorkQueue.Outcome.DONE;
        }
        throw new StackOverflowError("injected");
      }
      next.countDown();
      return WorkQueue.Outcome.DONE;
    })) {
      q.add("boom");
      q.add("next");
      assertThat(next.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(retried.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(q.handlerFailures()).isEqualTo(1);
      assertThat(q.stalled(Duration.ofMinutes(1))).isEmpty();
    }
  }

  @Test
  void aFloodingGroupNeverTakesTheReserveAndAnotherGroupIsServedAtOnce() throws Exception {
    // Four workers, a share of two, a reserve of one: a flood of "a" keys that block holds three
    // workers (its share and one turn beyond it), never the fourth, which serves "b".
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger aRunning = new AtomicInteger();
    AtomicInteger aMax = new AtomicInteger();
    CountDownLatch bDone = new CountDownLatch(3);
    CountDownLatch twoAInside = new CountDownLatch(2);
    try (WorkQueue q = new WorkQueue("t", 4, Duration.ofMillis(1), Duration.ofMillis(5), key -> {
      if (key.startsWith("a")) {
        aMax.accumulateAndGet(aRunning.incrementAndGet(), Math::max);
        twoAInside.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          aRunning.decrementAndGet();
        }
      } else {
        bDone.countDown();
      }
      return WorkQueue.Outcome.DONE;
    }, key -> key.substring(0, 1), 2, InstantSource.system())) {
      for (int i = 0; i < 50; i++) {
        q.add("a" + i);
      }
      assertThat(twoAInside.await(10, TimeUnit.SECONDS)).isTrue();
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> aRunning.get() == 3);
      q.add("b1");
      q.add("b2");
      q.add("b3");
      // The b keys finish while every a key that runs is still blocked.
      assertThat(bDone.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(aMax.get()).isEqualTo(3);
      assertThat(q.reserve()).isEqualTo(1);
      assertThat(q.depth()).isEqualTo(47);
      release.countDown();
    }
  }

  @Test
  void aGroupAloneUsesEveryWorkerButTheReserve() throws Exception {
    // Eight workers, a share of two: alone, a group is not held to its share (work-conserving).
    CountDownLatch release = new CountDownLatch(1);
    AtomicInteger running = new AtomicInteger();
    AtomicInteger max = new AtomicInteger();
    try (WorkQueue q = new WorkQueue("t", 8, Duration.ofMillis(1), Duration.ofMillis(5), key -> {
      max.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        release.await(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        running.decrementAndGet();
      }
      return WorkQueue.Outcome.DONE;
    }, key -> "one", 2, InstantSource.system())) {
      for (int i = 0; i < 20; i++) {
        q.add("k" + i);
      }
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> running.get() == 7);
      assertThat(q.depth()).isEqualTo(13);
      release.countDown();
    }
    assertThat(max.get()).isEqualTo(7);
  }

  @Test
  void aQueueWhoseKeysWaitWhileNothingFinishesReportsItself() throws Exception {
    MutableClock clock = new MutableClock(java.time.Instant.parse("2026-03-01T12:00:00Z"));
    CountDownLatch inside = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch finished = new CountDownLatch(2);
    try (WorkQueue q = new WorkQueue("csr-x", 1, Duration.ofMillis(1), Duration.ofMillis(5), key -> {
      if (key.equals("stuck")) {
        inside.countDown();
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      finished.countDown();
      return WorkQueue.Outcome.DONE;
    }, key -> "", 1, clock)) {
      q.add("stuck");
      assertThat(inside.await(10, TimeUnit.SECONDS)).isTrue();
      clock.advance(Duration.ofMinutes(10));
      // Nothing waits yet: a long item alone is not a stall.
      assertThat(q.stalled(Duration.ofMinutes(2))).isEmpty();
      q.add("waiting");
      clock.advance(Duration.ofMinutes(1));
      assertThat(q.stalled(Duration.ofMinutes(2))).isEmpty();
      clock.advance(Duration.ofMinutes(2));
      assertThat(q.stalled(Duration.ofMinutes(2))).hasValueSatisfying(why ->
          assertThat(why).contains("csr-x").contains("1 keys wait").contains("1 in progress"));
      release.countDown();
      assertThat(finished.await(10, TimeUnit.SECONDS)).isTrue();
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
          .until(() -> q.stalled(Duration.ofMinutes(2)).isEmpty());
    }
  }
}
