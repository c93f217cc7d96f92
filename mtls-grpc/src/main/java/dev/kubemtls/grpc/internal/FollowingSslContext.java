package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.internal.Generations;
import dev.kubemtls.core.internal.PeerValidity;
import dev.kubemtls.netty.internal.ContextCache;
import dev.kubemtls.netty.internal.TlsSettings;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolNegotiator;
import io.netty.handler.ssl.OpenSslSessionContext;
import io.netty.handler.ssl.SslContext;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSessionContext;

/**
 * The one {@link SslContext} grpc-netty is given: every engine comes from the context of the newest
 * material generation in mtls-netty's {@link ContextCache}, built by mtls-netty's
 * {@link TlsSettings} (the same policy, trust manager, verified-chain cache and BoringSSL settings
 * as a Netty server or client).
 *
 * <p>grpc-netty's TLS negotiators ask their context for a new engine per connection
 * ({@code newEngine}), and nothing else per connection. What is gRPC's own: ALPN {@code h2} (in the
 * settings), a server leaves the peer policy to its call interceptor, and a client resumes no
 * session whose server certificate has expired (JDK: such sessions are dropped before each engine;
 * OpenSSL: a client keeps no session cache), since grpc-netty gives no hook where a resumed
 * handshake could be checked.
 */
public final class FollowingSslContext extends SslContext {

  /** The ALPN protocol of gRPC. */
  public static final List<String> H2 = List.of("h2");

  private static final ApplicationProtocolNegotiator NEGOTIATOR = () -> H2;

  private final ContextCache cache;
  private final TlsSettings settings;
  private final Consumer<RuntimeException> noEngine;

  /** {@code noEngine} is told when no engine can be made (no usable material yet), before the throw. */
  public FollowingSslContext(String side, dev.kubemtls.core.MaterialSource source, TlsSettings settings,
      Consumer<RuntimeException> noEngine) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.noEngine = Objects.requireNonNull(noEngine, "noEngine");
    this.cache = new ContextCache(side, source, settings, FollowingSslContext::finish);
  }

  private static SslContext finish(SslContext context) {
    if (context.isClient() && context.sessionContext() instanceof OpenSslSessionContext sessions) {
      // No session cache on an OpenSSL channel, so every connection makes a full handshake in which
      // the trust manager checks the server's validity: a resumed BoringSSL session has no hook
      // where that check could run. gRPC channels keep their connections and reconnect rarely.
      sessions.setSessionCacheEnabled(false);
    }
    return context;
  }

  /**
   * Why no engine can be made now (no usable material yet), or {@code null} if one can: asked before
   * grpc starts a connection's negotiation, so that a refused connection is closed quietly rather than
   * by grpc's handler throwing from inside Netty's channel initialisation.
   */
  public IllegalStateException unavailable() {
    try {
      cache.acquire().release();
      return null;
    } catch (IllegalStateException e) {
      return e;
    }
  }

  @Override
  public boolean isClient() {
    return !settings.server();
  }

  @Override
  public List<String> cipherSuites() {
    SslContext current = cache.currentContext();
    return current == null ? List.of() : current.cipherSuites();
  }

  @Override
  @SuppressWarnings("deprecation")
  public ApplicationProtocolNegotiator applicationProtocolNegotiator() {
    return NEGOTIATOR;
  }

  @Override
  public SSLEngine newEngine(ByteBufAllocator alloc) {
    return newEngine(alloc, null, -1);
  }

  @Override
  public SSLEngine newEngine(ByteBufAllocator alloc, String peerHost, int peerPort) {
    Generations.Lease<SslContext> lease;
    try {
      lease = cache.acquire();
    } catch (IllegalStateException e) {
      noEngine.accept(e);
      throw e;
    }
    SSLEngine engine;
    try {
      if (peerHost != null && !settings.server() && settings.restrictsEngines()) {
        dropExpiredSessions(lease.value().sessionContext());
      }
      engine = peerHost == null ? lease.value().newEngine(alloc)
          : lease.value().newEngine(alloc, peerHost, peerPort);
    } finally {
      // An OpenSSL engine holds its own reference to the native context from here on.
      lease.release();
    }
    if (settings.restrictsEngines()) {
      settings.restrict(engine);
    }
    return engine;
  }

  /**
   * Before a JDK client makes an engine: drops the cached sessions whose server certificate is
   * outside its validity window by the settings' clock, since SunJSSE resumes a session without
   * looking at it. (The engine cannot be wrapped to check on completion: Netty reads ALPN, which
   * gRPC needs, only from its own engine classes.) The cache holds a session per server address.
   */
  private void dropExpiredSessions(SSLSessionContext sessions) {
    // Every time, not only when due (PeerValidity.sweepExpiredWhenDue): with no check on completion
    // this is the only one; a gRPC client makes few connections, each long-lived.
    PeerValidity.sweepExpired(sessions, settings.chains().clock().instant());
  }

  @Override
  public SSLSessionContext sessionContext() {
    SslContext current = cache.currentContext();
    if (current == null) {
      throw new IllegalStateException((settings.server() ? "server" : "client") + ": no usable TLS material yet");
    }
    return current.sessionContext();
  }

  /** The generation new connections use, or 0 before the first. */
  public long currentGeneration() {
    return cache.currentGeneration();
  }

  /** The current context plus superseded ones that open connections still use. */
  public int liveContexts() {
    return cache.liveContexts();
  }

  /** Stops following the source and drops the hold on the current context. */
  public void close() {
    cache.close();
  }
}
