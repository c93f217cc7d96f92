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

  public ClientConnectHandler(ContextCache cache, PeerCheck check) {
    this.cache = cache;
    this.check = check;
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
      Pipelines.install(ctx, cache, check, host, inet.getPort());
    } catch (RuntimeException e) {
      promise.setFailure(e);
      return;
    }
    ctx.connect(remote, local, promise);
    ctx.pipeline().remove(this);
  }
}
