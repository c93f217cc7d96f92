package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.netty.internal.Pipelines;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server-side mTLS for Netty that follows a {@link MaterialSource}: each accepted connection gets a
 * TLS engine made from the material that is current at that moment.
 *
 * <p>Add it to each child channel's pipeline (it is {@link ChannelHandler.Sharable}), ahead of the
 * application's handlers; it replaces itself with an {@link io.netty.handler.ssl.SslHandler} and a
 * peer check. One TLS context is built per material generation, when the source publishes it, so
 * rotations cost nothing per handshake; connections that are open when the material changes keep
 * the keys they started with, and a superseded context is freed when its last connection closes.
 * After the handshake the client's identity is on the channel ({@link NettyMtls#peer}), a
 * {@link PeerVerifiedEvent} goes down the pipeline, and a client outside the
 * {@link dev.kubemtls.core.peer.PeerPolicy} is disconnected with a logged reason. A refused client
 * certificate gets the alert that says why ({@code unknown_ca}, {@code certificate_expired},
 * {@code bad_certificate} with OpenSSL; the JDK sends {@code certificate_unknown} for all) and one
 * WARN line per cause and minute names its subject, serial and what to check.
 *
 * <pre>{@code
 * ServerTls tls = NettyMtls.forServer(source).peerPolicy(policy).build();
 * serverBootstrap.childHandler(new ChannelInitializer<SocketChannel>() {
 *   protected void initChannel(SocketChannel ch) {
 *     ch.pipeline().addLast(tls, new MyHandler());
 *   }
 * });
 * }</pre>
 *
 * <p>Every connection is bounded by its material ({@link ConnectionLifetime}), by default: it is
 * ended after the maximum age ({@link Builder#maxConnectionAge}, 30 minutes by default), by the
 * client certificate's {@code notAfter}, or when a new snapshot's trust bundle no longer holds the
 * CA that issued the client's chain, whichever comes first; HTTP/2 with GOAWAY, HTTP/1.1 with
 * {@code Connection: close} on the next response, other protocols once the connection is quiet,
 * and all with a TLS close_notify. {@link Builder#unboundedConnections()} turns it off.
 *
 * <p>Before the source has material, accepted connections are closed (logged at WARN).
 * {@link #close()} stops following the source; connections accepted afterwards are refused.
 */
@ChannelHandler.Sharable
public final class ServerTls extends NettyTls {

  private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);

  private ServerTls(Builder b) {
    super(b, TlsListener.Side.SERVER, b.policy.clientAuth() == ClientAuth.REQUIRE);
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelHandlerContext self = ch.pipeline().context(this);
    try {
      Pipelines.install(self, cache, check, null, 0, lifetime);
    } catch (IllegalStateException e) {
      LOG.warn("kube-mtls server: refusing the connection from {}: {}", ch.remoteAddress(), e.getMessage());
      if (check.reporting()) {
        check.listener().handshakeFailed(TlsListener.Side.SERVER, TlsListener.HandshakeFailure.OTHER,
            e, java.time.Duration.ZERO);
      }
      ch.close();
    }
  }

  /**
   * Options of a {@link ServerTls}; obtained from {@link NettyMtls#forServer}. Whether clients must
   * present a certificate is the policy's {@link dev.kubemtls.core.tls.TlsPolicy#clientAuth()}
   * ({@link ClientAuth#REQUIRE} by default).
   */
  public static final class Builder extends NettyTls.Builder<Builder, ServerTls> {
    Builder(MaterialSource source) {
      super(source);
    }

    @Override
    Builder self() {
      return this;
    }

    @Override
    public ServerTls build() {
      return new ServerTls(this);
    }
  }
}
