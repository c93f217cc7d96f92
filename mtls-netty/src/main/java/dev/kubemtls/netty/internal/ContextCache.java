package dev.kubemtls.netty.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.internal.Generations;
import io.netty.handler.ssl.SslContext;
import io.netty.util.ReferenceCounted;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * One Netty {@link SslContext} per material generation, kept in core's {@link Generations}: built
 * when the generation is published and shared by every connection that starts while it is current.
 *
 * <p>A connection takes the generation's lease only for the moment it creates its engine (an OpenSSL
 * engine retains the native context itself), so a handshake never waits for or builds a context.
 * When a newer generation arrives the cache drops its hold; the native context is freed once the
 * last engine that uses it is released, so open connections finish undisturbed and nothing
 * accumulates across rotations. A cache whose owner was dropped without {@link #close()} stops
 * following the source and drops its hold once it is unreachable.
 */
public final class ContextCache implements AutoCloseable {

  private final String side;
  private final TlsSettings settings;
  private final UnaryOperator<SslContext> finish;
  private final Generations<SslContext> generations;

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
    this.settings = Objects.requireNonNull(settings, "settings");
    this.finish = Objects.requireNonNull(finish, "finish");
    this.generations = new Generations<>(side, "TLS context", Objects.requireNonNull(source, "source"),
        this::build, ContextCache::release, ContextCache::inUse);
    MtlsMaterial initial = source.currentIfReady().orElse(null);
    try {
      generations.start();
    } catch (RuntimeException e) {
      generations.close();
      throw new IllegalArgumentException(side + ": the current TLS material (generation "
          + (initial == null ? "?" : initial.generation()) + ") cannot be used: " + e.getMessage(), e);
    }
    generations.follow();
  }

  /** The settings contexts are built with. */
  public TlsSettings settings() {
    return settings;
  }

  /**
   * The lease on the newest context, already acquired: call {@link Generations.Lease#release()}
   * once the engine exists.
   *
   * @throws IllegalStateException if the cache is closed or the source has no usable material yet
   */
  public Generations.Lease<SslContext> acquire() {
    Generations.Lease<SslContext> lease = generations.acquire();
    if (lease == null) {
      throw new IllegalStateException(side + ": no usable TLS material yet");
    }
    return lease;
  }

  /** The generation of the context new connections get, or 0 before the first. */
  public long currentGeneration() {
    return generations.generation();
  }

  /** The context new connections get, or null before the first; for tests of its lifetime. */
  public SslContext currentContext() {
    Generations.Lease<SslContext> lease = generations.peek();
    return lease == null ? null : lease.value();
  }

  /**
   * Contexts still alive: the current one plus superseded ones that open connections still use (for
   * OpenSSL, those whose native reference count is above zero).
   */
  public int liveContexts() {
    return generations.live();
  }

  /** Stops following the source and drops the cache's hold on the current context. */
  @Override
  public void close() {
    generations.close();
  }

  private SslContext build(MtlsMaterial material) {
    try {
      return finish.apply(settings.newContext(material));
    } catch (javax.net.ssl.SSLException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  /** The cache's last hold is gone: an OpenSSL context's native memory goes with its last engine. */
  private static void release(SslContext context) {
    if (context instanceof ReferenceCounted rc) {
      rc.release();
    }
  }

  private static boolean inUse(SslContext context) {
    return context instanceof ReferenceCounted rc && rc.refCnt() > 0;
  }
}
