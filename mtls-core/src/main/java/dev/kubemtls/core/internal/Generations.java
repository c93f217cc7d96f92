package dev.kubemtls.core.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.lang.ref.Cleaner;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one generation cache under every integration: one value (a JDK {@code SSLContext}, a Netty
 * {@code SslContext}, ...) per material snapshot a {@link MaterialSource} publishes, built once by
 * a factory and shared by every connection that starts while that snapshot is current.
 *
 * <ul>
 *   <li><b>Keyed by the snapshot.</b> A snapshot's value is built when the source publishes it
 *       (while {@link #follow()}ing) or by the first connection that sees it, whichever comes first;
 *       only a newer generation replaces the current one.
 *   <li><b>A failed build is remembered.</b> Material the factory refuses is logged once and the last
 *       good value stays current; that generation is not tried again on every connection.
 *   <li><b>Leases and retirement.</b> Each value sits in a {@link Lease} whose count starts at one,
 *       the cache's own hold. A connection {@linkplain #acquire() takes} the lease only for the moment
 *       it needs the value; when a newer generation arrives the cache drops its hold, and the
 *       retirement action (for instance releasing a native context) runs once the last hold is gone.
 *       Superseded values that are still {@linkplain #live() in use} are tracked until they are not.
 *   <li><b>Weak subscription.</b> The source holds the cache only weakly ({@link WeakSubscription}),
 *       and a cache dropped without {@link #close()} is closed by the cleaner once it is unreachable:
 *       it stops following and retires its current value, so a forgotten server or client neither
 *       keeps a context alive nor builds one on every rotation.
 * </ul>
 *
 * <p>The retirement action and the in-use test are kept by the cleaner's state, so they must not
 * capture the cache's owner (use static methods); the factory may.
 *
 * @param <T> what is built per generation
 */
public final class Generations<T> implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Generations.class);

  private final String side;
  private final String what;
  private final MaterialSource source;
  private final Function<MtlsMaterial, ? extends T> factory;
  private final State<T> state;
  private final Cleaner.Cleanable cleanable;
  private volatile long failedGeneration;

  /**
   * A cache that follows nothing yet: call {@link #follow()} to build each snapshot's value when it
   * is published, and {@link #start()} to build the current one now.
   *
   * @param side    who uses the values ({@code server}, {@code client}), for messages and logs
   * @param what    what a value is ({@code TLS context}), for logs
   * @param factory builds a snapshot's value; throws a {@link RuntimeException} for material it
   *                cannot use
   * @param retire  runs once for a value whose last hold is gone after it was superseded or the
   *                cache closed; must not capture the cache's owner
   * @param inUse   whether a value without holds is still in use by open connections (for
   *                {@link #live()}); must not capture the cache's owner
   */
  public Generations(String side, String what, MaterialSource source,
      Function<MtlsMaterial, ? extends T> factory, Consumer<? super T> retire, Predicate<? super T> inUse) {
    this.side = Objects.requireNonNull(side, "side");
    this.what = Objects.requireNonNull(what, "what");
    this.source = Objects.requireNonNull(source, "source");
    this.factory = Objects.requireNonNull(factory, "factory");
    this.state = new State<>(side, Objects.requireNonNull(retire, "retire"),
        Objects.requireNonNull(inUse, "inUse"));
    this.cleanable = WeakSubscription.CLEANER.register(this, state);
  }

  /** A cache whose values need nothing on retirement (garbage, once unreachable). */
  public static <T> Generations<T> unmanaged(String side, String what, MaterialSource source,
      Function<MtlsMaterial, ? extends T> factory) {
    return new Generations<>(side, what, source, factory, v -> { }, v -> false);
  }

  /**
   * Builds the value of the source's current snapshot now, if it has one and it is newer than the
   * current value, so that a configuration error surfaces to the caller: unlike a build on
   * publication, a failure here is thrown (what the factory threw), not remembered.
   *
   * @return the current lease (not acquired), or null if the source has no material yet
   */
  public Lease<T> start() {
    MtlsMaterial initial = source.currentIfReady().orElse(null);
    synchronized (state) {
      Lease<T> cur = state.current;
      if (initial == null || state.closed || (cur != null && cur.generation >= initial.generation())) {
        return cur;
      }
      return install(initial, factory.apply(initial));
    }
  }

  /**
   * Builds each new snapshot's value as soon as the source publishes it, until the returned
   * subscription or the cache is closed, or the cache is unreachable. The source's current snapshot
   * is built too, should it be newer than the current value.
   */
  public MaterialSource.Subscription follow() {
    MaterialSource.Subscription inner = WeakSubscription.subscribe(source, this, Generations::onMaterial);
    // The state keeps the subscription, so it captures the state, never this cache.
    Set<MaterialSource.Subscription> followers = state.followers;
    MaterialSource.Subscription[] self = new MaterialSource.Subscription[1];
    self[0] = () -> {
      followers.remove(self[0]);
      inner.close();
    };
    followers.add(self[0]);
    if (state.closed) {
      self[0].close();
    } else {
      source.currentIfReady().ifPresent(this::refresh);
    }
    return self[0];
  }

  /**
   * The newest lease, not acquired: the source's current snapshot is built first if it is newer
   * than the current value and has not failed. Null before the first usable snapshot.
   *
   * @throws IllegalStateException if the cache is closed
   */
  public Lease<T> current() {
    requireOpen();
    Lease<T> lease = state.current;
    MtlsMaterial material = source.currentIfReady().orElse(null);
    if (material != null && (lease == null || lease.generation < material.generation())
        && material.generation() != failedGeneration) {
      // The listener has not run yet for this generation (it runs after the source made it
      // current): build it here once rather than serve the old one.
      lease = refresh(material);
    }
    return lease;
  }

  /**
   * The lease on the newest value, already acquired: call {@link Lease#release()} once done with it.
   * Null before the first usable snapshot.
   *
   * @throws IllegalStateException if the cache is closed
   */
  public Lease<T> acquire() {
    for (;;) {
      Lease<T> lease = current();
      if (lease == null || lease.tryAcquire()) {
        return lease;
      }
      // Superseded between the read and the acquire: the newer one is current now.
    }
  }

  /** The newest lease without looking at the source, or null before the first or once closed. */
  public Lease<T> peek() {
    return state.current;
  }

  /** The generation of the current value, or 0 before the first or once closed. */
  public long generation() {
    Lease<T> lease = state.current;
    return lease == null ? 0 : lease.generation;
  }

  /** Whether {@link #close()} has run (or the cleaner). */
  public boolean isClosed() {
    return state.closed;
  }

  /**
   * Values still alive: the current one plus superseded ones that are held or in use by open
   * connections.
   */
  public int live() {
    int live = 0;
    Lease<T> cur = state.current;
    if (cur != null && state.alive(cur)) {
      live++;
    }
    for (Iterator<Lease<T>> it = state.retired.iterator(); it.hasNext(); ) {
      Lease<T> lease = it.next();
      if (state.alive(lease)) {
        live++;
      } else {
        it.remove();
      }
    }
    return live;
  }

  /**
   * Stops following the source and drops the cache's hold on the current value, which is retired
   * once its last lease is released. Values asked for afterwards fail; closing twice is harmless.
   */
  @Override
  public void close() {
    cleanable.clean();
  }

  private void requireOpen() {
    if (state.closed) {
      throw new IllegalStateException("kube-mtls " + side + ": this TLS configuration has been closed");
    }
  }

  private void onMaterial(MtlsMaterial material) {
    refresh(material);
  }

  private Lease<T> refresh(MtlsMaterial material) {
    synchronized (state) {
      Lease<T> cur = state.current;
      if (state.closed || (cur != null && cur.generation >= material.generation())
          || material.generation() == failedGeneration) {
        return cur;
      }
      T value;
      try {
        value = factory.apply(material);
      } catch (RuntimeException e) {
        failedGeneration = material.generation();
        LOG.error("kube-mtls {}: cannot build a {} for generation {} ({}); new connections keep {}",
            side, what, material.generation(), material.identity(),
            cur == null ? "none" : "generation " + cur.generation, e);
        return cur;
      }
      return install(material, value);
    }
  }

  /** Makes {@code value} current; called under the state's lock. */
  private Lease<T> install(MtlsMaterial material, T value) {
    Lease<T> lease = new Lease<>(material, value, state.retire);
    Lease<T> previous = state.current;
    state.current = lease;
    if (previous != null) {
      state.retired.add(previous);
      previous.release();
    }
    state.retired.removeIf(l -> !state.alive(l));
    LOG.info("kube-mtls {}: {} for generation {} in use: identity {}, trust {}", side, what,
        material.generation(), material.identity(), material.trust());
    return lease;
  }

  /**
   * What must be released whether the cache is closed or collected; it holds no reference to the
   * cache, so that the cleaner can run it.
   */
  private static final class State<T> implements Runnable {
    private final String side;
    private final Consumer<? super T> retire;
    private final Predicate<? super T> inUse;
    private final ConcurrentLinkedQueue<Lease<T>> retired = new ConcurrentLinkedQueue<>();
    private final Set<MaterialSource.Subscription> followers = ConcurrentHashMap.newKeySet();
    private volatile Lease<T> current;
    private volatile boolean closed;

    State(String side, Consumer<? super T> retire, Predicate<? super T> inUse) {
      this.side = side;
      this.retire = retire;
      this.inUse = inUse;
    }

    boolean alive(Lease<T> lease) {
      return lease.holders.get() > 0 || inUse.test(lease.value);
    }

    /** Runs once, from {@link Generations#close()} or from the cleaner. */
    @Override
    public void run() {
      Lease<T> last;
      synchronized (this) {
        closed = true;
        last = current;
        current = null;
      }
      for (MaterialSource.Subscription s : List.copyOf(followers)) {
        s.close();
      }
      if (last != null) {
        retired.add(last);
        last.release();
        LOG.debug("kube-mtls {}: released the value of generation {}", side, last.generation);
      }
    }
  }

  /** A generation's value and the count of holders that may still use it. */
  public static final class Lease<T> {
    private final long generation;
    private final MtlsMaterial material;
    private final T value;
    private final Consumer<? super T> retire;
    private final AtomicInteger holders = new AtomicInteger(1);

    Lease(MtlsMaterial material, T value, Consumer<? super T> retire) {
      this.generation = material.generation();
      this.material = material;
      this.value = value;
      this.retire = retire;
    }

    /** The generation of the snapshot the value was built from. */
    public long generation() {
      return generation;
    }

    /** The snapshot the value was built from. */
    public MtlsMaterial material() {
      return material;
    }

    /** The value built for the generation. */
    public T value() {
      return value;
    }

    boolean tryAcquire() {
      for (;;) {
        int n = holders.get();
        if (n == 0) {
          return false;
        }
        if (holders.compareAndSet(n, n + 1)) {
          return true;
        }
      }
    }

    /** Gives back one hold; the last one retires the value. */
    public void release() {
      if (holders.decrementAndGet() == 0) {
        retire.accept(value);
      }
    }
  }
}
