package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The one generation cache: a value per published snapshot built once, a failed generation
 * remembered, superseded values retired once their last lease is released, and a dropped cache
 * stops following its source.
 */
class GenerationsTest {

  private static final TestCa CA = TestCa.create("generations test CA");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");
  private static final TlsIdentity IDENTITY = identity();

  private static TlsIdentity identity() {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).commonName("orders").build()), 1);
  }

  private static MtlsMaterial generation(long n) {
    return new MtlsMaterial(IDENTITY, TRUST, n);
  }

  /** What a test built: one per generation, named by it. */
  record Value(long generation) {}

  private final List<Long> built = new CopyOnWriteArrayList<>();
  /** Values retired, in order. */
  private final List<Value> retired = new CopyOnWriteArrayList<>();

  private Generations<Value> cache(MaterialPublisher source, long failing) {
    List<Long> builds = built;
    List<Value> retirements = retired;
    return new Generations<>("server", "test value", source, m -> {
      builds.add(m.generation());
      if (m.generation() == failing) {
        throw new IllegalStateException("generation " + failing + " is unusable");
      }
      return new Value(m.generation());
    }, retirements::add, v -> false);
  }

  @Test
  void buildsEachPublishedGenerationOnceAndServesTheNewest() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    try (Generations<Value> cache = cache(source, -1)) {
      assertThat(cache.start().value()).isEqualTo(new Value(1));
      cache.follow();
      source.publish(generation(2));
      source.publish(generation(3));
      for (int i = 0; i < 10; i++) {
        Generations.Lease<Value> lease = cache.acquire();
        assertThat(lease.value()).isEqualTo(new Value(3));
        assertThat(lease.material().generation()).isEqualTo(3);
        lease.release();
      }
      assertThat(built).containsExactly(1L, 2L, 3L);
      assertThat(retired).containsExactly(new Value(1), new Value(2));
      assertThat(cache.generation()).isEqualTo(3);
      assertThat(cache.live()).isEqualTo(1);
    }
    assertThat(retired).containsExactly(new Value(1), new Value(2), new Value(3));
  }

  @Test
  void withoutFollowingTheFirstConnectionToSeeASnapshotBuildsIt() {
    MaterialPublisher source = new MaterialPublisher();
    try (Generations<Value> cache = cache(source, -1)) {
      assertThat(cache.start()).isNull();
      assertThat(cache.acquire()).isNull();
      source.publish(generation(1));
      source.publish(generation(2));
      assertThat(built).isEmpty();
      assertThat(cache.current().value()).isEqualTo(new Value(2));
      assertThat(cache.current().value()).isEqualTo(new Value(2));
      assertThat(built).containsExactly(2L);
    }
  }

  @Test
  void aFailedGenerationIsRememberedAndTheLastGoodValueStays() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    try (Generations<Value> cache = cache(source, 2)) {
      cache.start();
      cache.follow();
      source.publish(generation(2));
      for (int i = 0; i < 5; i++) {
        assertThat(cache.current().value()).isEqualTo(new Value(1));
      }
      assertThat(built).containsExactly(1L, 2L);
      assertThat(retired).isEmpty();
      source.publish(generation(3));
      assertThat(cache.current().value()).isEqualTo(new Value(3));
      assertThat(retired).containsExactly(new Value(1));
    }
  }

  @Test
  void aFailureOfTheFirstBuildIsThrownToTheCaller() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    Generations<Value> cache = cache(source, 1);
    assertThatThrownBy(cache::start).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("generation 1 is unusable");
    cache.close();
  }

  @Test
  void aSupersededValueIsRetiredOnlyWhenItsLastLeaseIsReleased() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    try (Generations<Value> cache = cache(source, -1)) {
      cache.start();
      cache.follow();
      Generations.Lease<Value> first = cache.acquire();
      Generations.Lease<Value> second = cache.acquire();
      source.publish(generation(2));
      assertThat(cache.live()).isEqualTo(2);
      first.release();
      assertThat(retired).isEmpty();
      second.release();
      assertThat(retired).containsExactly(new Value(1));
      assertThat(cache.live()).isEqualTo(1);
    }
  }

  @Test
  void aClosedCacheRefusesAndStopsFollowing() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    Generations<Value> cache = cache(source, -1);
    cache.start();
    cache.follow();
    Generations.Lease<Value> held = cache.acquire();
    cache.close();
    cache.close();
    assertThat(retired).isEmpty();
    held.release();
    assertThat(retired).containsExactly(new Value(1));
    source.publish(generation(2));
    assertThat(built).containsExactly(1L);
    assertThatThrownBy(cache::acquire).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    assertThat(cache.generation()).isZero();
    assertThat(cache.follow()).isNotNull();
    source.publish(generation(3));
    assertThat(built).containsExactly(1L);
  }

  @Test
  void aDroppedCacheStopsFollowingAndRetiresItsValue() {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    AtomicInteger builds = new AtomicInteger();
    Set<Value> gone = ConcurrentHashMap.newKeySet();
    dropped(source, builds, gone);
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      System.gc();
      return gone.contains(new Value(1));
    });
    source.publish(generation(2));
    assertThat(builds).hasValue(1);
  }

  private static void dropped(MaterialPublisher source, AtomicInteger builds, Set<Value> gone) {
    Generations<Value> cache = new Generations<>("client", "test value", source, m -> {
      builds.incrementAndGet();
      return new Value(m.generation());
    }, gone::add, v -> false);
    cache.start();
    cache.follow();
  }

  @Test
  void concurrentConnectionsBuildANewSnapshotOnce() throws Exception {
    MaterialPublisher source = new MaterialPublisher(generation(1));
    try (Generations<Value> cache = cache(source, -1)) {
      cache.start();
      source.publish(generation(2));
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Value>> seen = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 8; i++) {
          seen.add(pool.submit(() -> {
            go.await();
            Generations.Lease<Value> lease = cache.acquire();
            try {
              return lease.value();
            } finally {
              lease.release();
            }
          }));
        }
        go.countDown();
        for (Future<Value> f : seen) {
          assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo(new Value(2));
        }
      } finally {
        pool.shutdownNow();
      }
      assertThat(built).containsExactly(1L, 2L);
    }
  }
}
