package dev.kubemtls.netty.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.internal.WeakSubscription;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCounted;
import java.lang.ref.Cleaner;
import java.util.Iterator;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@link SslContext} per material generation, built when the generation is published and
 * shared by every connection that starts while it is current.
 *
 * <p>Each context sits in a {@link Lease} whose count starts at one, the cache's own hold. A
 * connection takes the lease only for the moment it creates its engine (an OpenSSL engine retains
 * the native context itself), so a handshake never waits for or builds a context. When a newer
 * generation arrives the cache drops its hold; the native context is freed once the last engine that
 * uses it is released, so open connections finish undisturbed and nothing accumulates across
 * rotations.
 *
 * <p>The source only holds the cache weakly ({@link WeakSubscription}). A cache whose owner was
 * dropped without {@link #close()} is closed by the cleaner once it is unreachable: it stops
 * following the source and drops its hold on the current context, so a forgotten server or client
 * neither keeps a native context alive nor builds a new one on every rotation.
 */
public final class ContextCache implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ContextCache.class);

  private final String side;
  private final MaterialSource source;
  private final TlsSettings settings;
  private final UnaryOperator<SslContext> finish;
  private final State state;
  private final Cleaner.Cleanable cleanable;
  private long failedGeneration;

  /**
   * Subscribes to {@code source} and, when it already has material, builds the first context now so
   * that configuration errors surface here.
   *
   * @throws IllegalArgumentException if the source's current material cannot make a context
   */
  public ContextCache(String side, MaterialSource source, TlsSettings settings) {
    this(side, source, settings, UnaryOperator.identity());
  }

  /**
   * As {@link #ContextCache(String, MaterialSource, TlsSettings)}, with {@code finish} applied to each
   * context once it is built, before any connection uses it (an integration's own session settings).
   */
  public ContextCache(String side, MaterialSource source, TlsSettings settings, UnaryOperator<SslContext> finish) {
    this.side = Objects.requireNonNull(side, "side");
    this.source = Objects.requireNonNull(source, "source");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.finish = Objects.requireNonNull(finish, "finish");
    this.state = new State(side);
    state.subscription = WeakSubscription.subscribe(source, this, ContextCache::onMaterial);
    MtlsMaterial initial = source.currentIfReady().orElse(null);
    if (initial != null) {
      try {
        install(initial, build(initial));
      } catch (RuntimeException e) {
        state.close();
        throw new IllegalArgumentException(side + ": the current TLS material (generation "
            + initial.generation() + ") cannot be used: " + e.getMessage(), e);
      }
    }
    this.cleanable = WeakSubscription.CLEANER.register(this, state);
  }

  /** The settings contexts are built with. */
  public TlsSettings settings() {
    return settings;
  }

  /**
   * The lease on the newest context, already acquired: call {@link Lease#release()} once the engine
   * exists.
   *
   * @throws IllegalStateException if the cache is closed or the source has no usable material yet
   */
  public Lease acquire() {
    for (;;) {
      if (state.closed) {
        throw new IllegalStateException(side + ": this TLS configuration has been closed");
      }
      Lease lease = state.current;
      MtlsMaterial material = source.currentIfReady().orElse(null);
      if (material != null && (lease == null || lease.generation < material.generation())) {
        // The listener has not run yet for this generation (it runs after the source made it
        // current); build it here once, under the lock, rather than serve the old one.
        lease = refresh(material);
      }
      if (lease == null) {
        throw new IllegalStateException(side + ": no usable TLS material yet");
      }
      if (lease.tryAcquire()) {
        return lease;
      }
      // Superseded between the read and the acquire: the newer one is current now.
    }
  }

  /** The generation of the context new connections get, or 0 before the first. */
  public long currentGeneration() {
    Lease lease = state.current;
    return lease == null ? 0 : lease.generation;
  }

  /** The context new connections get, or null before the first; for tests of its lifetime. */
  public SslContext currentContext() {
    Lease lease = state.current;
    return lease == null ? null : lease.context;
  }

  /**
   * Contexts still alive: the current one plus superseded ones that open connections still use (for
   * OpenSSL, those whose native reference count is above zero).
   */
  public int liveContexts() {
    int live = 0;
    Lease cur = state.current;
    if (cur != null && cur.isAlive()) {
      live++;
    }
    for (Iterator<Lease> it = state.retired.iterator(); it.hasNext(); ) {
      Lease lease = it.next();
      if (lease.isAlive()) {
        live++;
      } else {
        it.remove();
      }
    }
    return live;
  }

  /** Stops following the source and drops the cache's hold on the current context. */
  @Override
  public void close() {
    cleanable.clean();
  }

  private void onMaterial(MtlsMaterial material) {
    refresh(material);
  }

  private Lease refresh(MtlsMaterial material) {
    synchronized (state) {
      Lease cur = state.current;
      if (state.closed || (cur != null && cur.generation >= material.generation())
          || material.generation() == failedGeneration) {
        return cur;
      }
      SslContext context;
      try {
        context = build(material);
      } catch (RuntimeException e) {
        failedGeneration = material.generation();
        LOG.error("kube-mtls {}: cannot build a TLS context for generation {} ({}); new connections"
            + " keep generation {}", side, material.generation(), material.identity(),
            cur == null ? "none" : cur.generation, e);
        return cur;
      }
      return install(material, context);
    }
  }

  private Lease install(MtlsMaterial material, SslContext context) {
    Lease lease = new Lease(material.generation(), context);
    Lease previous;
    synchronized (state) {
      previous = state.current;
      state.current = lease;
    }
    if (previous != null) {
      state.retired.add(previous);
      previous.release();
    }
    state.retired.removeIf(l -> !l.isAlive());
    LOG.info("kube-mtls {}: TLS context for generation {} in use: identity {}, trust {}", side,
        material.generation(), material.identity(), material.trust());
    return lease;
  }

  private SslContext build(MtlsMaterial material) {
    try {
      return finish.apply(settings.newContext(material));
    } catch (javax.net.ssl.SSLException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  /**
   * What must be released whether the cache is closed or collected; it holds no reference to the
   * cache, so that the cleaner can run it.
   */
  private static final class State implements Runnable {
    private final String side;
    private final ConcurrentLinkedQueue<Lease> retired = new ConcurrentLinkedQueue<>();
    private volatile MaterialSource.Subscription subscription;
    private volatile Lease current;
    private volatile boolean closed;

    State(String side) {
      this.side = side;
    }

    /** Runs once, from {@link ContextCache#close()} or from the cleaner. */
    @Override
    public void run() {
      close();
    }

    void close() {
      MaterialSource.Subscription s = subscription;
      if (s != null) {
        s.close();
      }
      Lease last;
      synchronized (this) {
        if (closed) {
          return;
        }
        closed = true;
        last = current;
        current = null;
      }
      if (last != null) {
        retired.add(last);
        last.release();
        LOG.debug("kube-mtls {}: released the TLS context of generation {}", side, last.generation);
      }
    }
  }

  /** A context and the count of holders that may still create engines from it. */
  public static final class Lease {
    private final long generation;
    private final SslContext context;
    private final AtomicInteger holders = new AtomicInteger(1);

    Lease(long generation, SslContext context) {
      this.generation = generation;
      this.context = context;
    }

    public long generation() {
      return generation;
    }

    public SslContext context() {
      return context;
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

    /** Gives back one hold; the last one releases the cache's reference to the context. */
    public void release() {
      if (holders.decrementAndGet() == 0 && context instanceof ReferenceCounted rc) {
        rc.release();
      }
    }

    boolean isAlive() {
      if (context instanceof ReferenceCounted rc) {
        return rc.refCnt() > 0;
      }
      return holders.get() > 0;
    }
  }
}
