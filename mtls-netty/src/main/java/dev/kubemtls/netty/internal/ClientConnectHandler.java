package dev.kubemtls.netty.internal;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Waits for the client's {@code connect}, where the dialled name is known, then puts a TLS engine
 * for that name and port in its own place. The name is what the application passed to
 * {@code Bootstrap.connect}: a DNS name stays a DNS name after resolution, an IP literal stays an
 * IP, and the server's certificate must carry it.
 */
public final class ClientConnectHandler extends ChannelOutboundHandlerAdapter {

  private final ContextCache cache;
  private final PeerCheck check;
  private final io.netty.channel.ChannelHandler lifetime;

  /** {@code lifetime} (may be null) bounds the connection's age after the handshake. */
  public ClientConnectHandler(ContextCache cache, PeerCheck check, io.netty.channel.ChannelHandler lifetime) {
    this.cache = cache;
    this.check = check;
    this.lifetime = lifetime;
  }

  @Override
  public void connect(ChannelHandlerContext ctx, SocketAddress remote, SocketAddress local,
      ChannelPromise promise) {
    if (!(remote instanceof InetSocketAddress inet)) {
      promise.setFailure(new IllegalArgumentException("kube-mtls clients verify the server by the DNS"
          + " name or IP address they dial, so they need an InetSocketAddress, not " + remote));
      return;
    }
    String host = inet.getHostString();
    try {
      Pipelines.install(ctx, cache, check, host, inet.getPort(), lifetime);
    } catch (RuntimeException e) {
      promise.setFailure(e);
      return;
    }
    ctx.connect(remote, local, promise);
    ctx.pipeline().remove(this);
  }
}
