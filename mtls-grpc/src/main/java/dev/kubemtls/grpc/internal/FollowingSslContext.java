package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.internal.WeakSubscription;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolNegotiator;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCounted;
import java.lang.ref.Cleaner;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSessionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one {@link SslContext} grpc-netty is given, which makes every engine from the context of the
 * newest material generation.
 *
 * <p>grpc-netty's TLS negotiators ask their context for a new engine per connection
 * ({@code newEngine}), and nothing else per connection. So this context builds one real Netty
 * context per generation when the source publishes it (key, chain and trust of one snapshot, never
 * mixed; a trust change makes a new context, so BoringSSL's advertised CA list follows it too), and
 * hands out engines from the newest. An OpenSSL engine retains its native context, so a superseded
 * context lives exactly as long as its last connection; open connections keep their keys.
 *
 * <p>The source holds this context weakly; the handle that owns it closes it, and a dropped one is
 * closed by the cleaner.
 */
public final class FollowingSslContext extends SslContext {

  private static final Logger LOG = LoggerFactory.getLogger(FollowingSslContext.class);

  private static final ApplicationProtocolNegotiator H2 = () -> ContextFactory.H2;

  private final String side;
  private final MaterialSource source;
  private final ContextFactory factory;
  private final State state;
  private final Cleaner.Cleanable cleanable;
  private long failedGeneration;

  /**
   * Subscribes to {@code source} and, when it already has material, builds the first context now.
   *
   * @throws IllegalArgumentException if the current material cannot make a context
   */
  public FollowingSslContext(String side, MaterialSource source, ContextFactory factory) {
    this.side = Objects.requireNonNull(side, "side");
    this.source = Objects.requireNonNull(source, "source");
    this.factory = Objects.requireNonNull(factory, "factory");
    this.state = new State(side);
    state.subscription = WeakSubscription.subscribe(source, this, FollowingSslContext::refresh);
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

  @Override
  public boolean isClient() {
    return !factory.server();
  }

  @Override
  public List<String> cipherSuites() {
    Lease lease = state.current;
    return lease == null ? List.of() : lease.context.cipherSuites();
  }

  @Override
  @SuppressWarnings("deprecation")
  public ApplicationProtocolNegotiator applicationProtocolNegotiator() {
    return H2;
  }

  @Override
  public SSLEngine newEngine(ByteBufAllocator alloc) {
    return newEngine(alloc, null, -1);
  }

  @Override
  public SSLEngine newEngine(ByteBufAllocator alloc, String peerHost, int peerPort) {
    Lease lease = acquire();
    SSLEngine engine;
    try {
      if (peerHost != null) {
        factory.dropExpiredSessions(lease.context.sessionContext());
      }
      engine = peerHost == null ? lease.context.newEngine(alloc)
          : lease.context.newEngine(alloc, peerHost, peerPort);
    } finally {
      // An OpenSSL engine holds its own reference to the native context from here on.
      lease.release();
    }
    factory.restrict(engine);
    return engine;
  }

  @Override
  public SSLSessionContext sessionContext() {
    Lease lease = state.current;
    if (lease == null) {
      throw new IllegalStateException(side + ": no usable TLS material yet");
    }
    return lease.context.sessionContext();
  }

  /** The generation new connections use, or 0 before the first. */
  public long currentGeneration() {
    Lease lease = state.current;
    return lease == null ? 0 : lease.generation;
  }

  /** The current context plus superseded ones that open connections still use. */
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

  /** Stops following the source and drops the hold on the current context. */
  public void close() {
    cleanable.clean();
  }

  private Lease acquire() {
    for (;;) {
      if (state.closed) {
        throw new IllegalStateException(side + ": this TLS configuration has been closed");
      }
      Lease lease = state.current;
      MtlsMaterial material = source.currentIfReady().orElse(null);
      if (material != null && (lease == null || lease.generation < material.generation())) {
        // Published, but the listener has not run yet: build it now rather than serve the old one.
        lease = refresh(material);
      }
      if (lease == null) {
        throw new IllegalStateException(side + ": no usable TLS material yet");
      }
      if (lease.tryAcquire()) {
        return lease;
      }
    }
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
        LOG.error("kube-mtls gRPC {}: cannot use TLS material generation {} ({}); new connections"
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
    LOG.info("kube-mtls gRPC {}: TLS context for generation {} in use: identity {}, trust {}", side,
        material.generation(), material.identity(), material.trust());
    return lease;
  }

  private SslContext build(MtlsMaterial material) {
    try {
      return factory.newContext(material);
    } catch (SSLException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  /** What must be released on close or collection; holds no reference to the context itself. */
  private static final class State implements Runnable {
    private final String side;
    private final ConcurrentLinkedQueue<Lease> retired = new ConcurrentLinkedQueue<>();
    private volatile MaterialSource.Subscription subscription;
    private volatile Lease current;
    private volatile boolean closed;

    State(String side) {
      this.side = side;
    }

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
        LOG.debug("kube-mtls gRPC {}: released the TLS context of generation {}", side, last.generation);
      }
    }
  }

  /** A context and the count of holders that may still create engines from it. */
  private static final class Lease {
    private final long generation;
    private final SslContext context;
    private final AtomicInteger holders = new AtomicInteger(1);

    Lease(long generation, SslContext context) {
      this.generation = generation;
      this.context = context;
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

    void release() {
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
