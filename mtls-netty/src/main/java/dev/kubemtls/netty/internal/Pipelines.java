package dev.kubemtls.netty.internal;

import dev.kubemtls.core.internal.Generations;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;

/** Installs the TLS handler and the peer check into a pipeline, right after a given handler. */
public final class Pipelines {

  /** The name of the {@link SslHandler} in the pipeline. */
  public static final String TLS_HANDLER = "kube-mtls-tls";
  /** The name of the peer check that follows it. */
  public static final String PEER_HANDLER = "kube-mtls-peer";
  /** The name of the connection lifetime bound that follows the peer check, when there is one. */
  public static final String LIFETIME_HANDLER = "kube-mtls-lifetime";

  private Pipelines() {}

  /**
   * Creates an engine from the newest context (host and port may be null on a server) and adds it
   * after {@code after}, followed by the peer check and the lifetime bound ({@code lifetime}, may
   * be null).
   */
  public static SslHandler install(ChannelHandlerContext after, ContextCache cache, PeerCheck check,
      String peerHost, int peerPort, io.netty.channel.ChannelHandler lifetime) {
    Generations.Lease<SslContext> lease = cache.acquire();
    SslHandler ssl;
    try {
      ssl = peerHost == null
          ? lease.value().newHandler(after.alloc())
          : lease.value().newHandler(after.alloc(), peerHost, peerPort);
    } finally {
      // The engine holds its own reference to the context from here on.
      lease.release();
    }
    if (cache.settings().restrictsEngines()) {
      cache.settings().restrict(ssl.engine());
    }
    ChannelPipeline p = after.pipeline();
    try {
      p.addAfter(after.name(), TLS_HANDLER, ssl);
      p.addAfter(TLS_HANDLER, PEER_HANDLER, new PeerVerifier(check, ssl));
      if (lifetime != null) {
        p.addAfter(PEER_HANDLER, LIFETIME_HANDLER, lifetime);
      }
    } catch (RuntimeException e) {
      if (p.get(TLS_HANDLER) != ssl) {
        // Never added, so the pipeline will not release the engine for us.
        io.netty.util.ReferenceCountUtil.release(ssl.engine());
      }
      throw e;
    }
    return ssl;
  }
}
