package dev.kubemtls.netty.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCounted;
import java.util.Iterator;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
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
 */
public final class ContextCache implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ContextCache.class);

  private final String side;
  private final MaterialSource source;
  private final TlsSettings settings;
  private final Object lock = new Object();
  private final ConcurrentLinkedQueue<Lease> retired = new ConcurrentLinkedQueue<>();
  private final MaterialSource.Subscription subscription;
  private volatile Lease current;
  private volatile boolean closed;
  private long failedGeneration;

  /**
   * Subscribes to {@code source} and, when it already has material, builds the first context now so
   * that configuration errors surface here.
   *
   * @throws IllegalArgumentException if the source's current material cannot make a context
   */
  public ContextCache(String side, MaterialSource source, TlsSettings settings) {
    this.side = Objects.requireNonNull(side, "side");
    this.source = Objects.requireNonNull(source, "source");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.subscription = source.subscribe(this::onMaterial);
    MtlsMaterial initial = source.currentIfReady().orElse(null);
    if (initial != null) {
      try {
        install(initial, build(initial));
      } catch (RuntimeException e) {
        subscription.close();
        throw new IllegalArgumentException(side + ": the current TLS material (generation "
            + initial.generation() + ") cannot be used: " + e.getMessage(), e);
      }
    }
  }

  /**
   * The lease on the newest context, already acquired: call {@link Lease#release()} once the engine
   * exists.
   *
   * @throws IllegalStateException if the cache is closed or the source has no usable material yet
   */
  public Lease acquire() {
    for (;;) {
      if (closed) {
        throw new IllegalStateException(side + ": this TLS configuration has been closed");
      }
      Lease lease = current;
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
    Lease lease = current;
    return lease == null ? 0 : lease.generation;
  }

  /**
   * Contexts still alive: the current one plus superseded ones that open connections still use (for
   * OpenSSL, those whose native reference count is above zero).
   */
  public int liveContexts() {
    int live = 0;
    Lease cur = current;
    if (cur != null && cur.isAlive()) {
      live++;
    }
    for (Iterator<Lease> it = retired.iterator(); it.hasNext(); ) {
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
    subscription.close();
    Lease last;
    synchronized (lock) {
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
    }
  }

  private void onMaterial(MtlsMaterial material) {
    refresh(material);
  }

  private Lease refresh(MtlsMaterial material) {
    synchronized (lock) {
      Lease cur = current;
      if (closed || (cur != null && cur.generation >= material.generation())
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
    synchronized (lock) {
      previous = current;
      current = lease;
    }
    if (previous != null) {
      retired.add(previous);
      previous.release();
    }
    pruneRetired();
    LOG.info("kube-mtls {}: TLS context for generation {} in use: identity {}, trust {}", side,
        material.generation(), material.identity(), material.trust());
    return lease;
  }

  private SslContext build(MtlsMaterial material) {
    try {
      return settings.newContext(material);
    } catch (javax.net.ssl.SSLException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  private void pruneRetired() {
    retired.removeIf(lease -> !lease.isAlive());
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
