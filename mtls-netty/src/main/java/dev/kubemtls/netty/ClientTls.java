package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.netty.internal.ClientConnectHandler;
import dev.kubemtls.netty.internal.Pipelines;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import java.util.Objects;

/**
 * Client-side mTLS for Netty that follows a {@link MaterialSource}: each new connection presents
 * the identity that is current when it connects and trusts the current bundle.
 *
 * <p>Add it to a {@link io.netty.bootstrap.Bootstrap}'s pipeline ahead of the application's
 * handlers (it is {@link ChannelHandler.Sharable}). When the channel connects it learns the name the
 * application dialled ({@code bootstrap.connect("orders.shop.svc", 8443)} or an IP address) and puts
 * a TLS engine for that name in its own place: the server must present a certificate that chains to
 * the trust bundle <em>and</em> carries that DNS name or IP address, and SNI carries DNS names. The
 * server's identity is then on the channel ({@link NettyMtls#peer}) and may be restricted further
 * with a {@link PeerPolicy}. Contexts are built once per material generation and shared, exactly as
 * on the {@linkplain ServerTls server side}.
 *
 * <p>A {@link TlsListener} given to the builder hears the outcome of every handshake from the
 * client's side. With TLS 1.3 the client completes its side of the handshake before the server has
 * checked the client's certificate: if the server refuses it, this client reports
 * {@code handshakeSucceeded} and the refusal arrives afterwards as an {@link javax.net.ssl.SSLException}
 * on the channel's next read (an {@code exceptionCaught} with a {@code certificate_required},
 * {@code bad_certificate} or similar alert), not through the listener; the server's listener reports
 * the failure. With TLS 1.2 the client's handshake fails and it reports
 * {@link TlsListener.HandshakeFailure#REJECTED_BY_PEER}.
 *
 * <pre>{@code
 * ClientTls tls = NettyMtls.forClient(source).build();
 * bootstrap.handler(new ChannelInitializer<SocketChannel>() {
 *   protected void initChannel(SocketChannel ch) {
 *     ch.pipeline().addLast(tls, new MyClientHandler());
 *   }
 * });
 * bootstrap.connect("orders.shop.svc.cluster.local", 8443);
 * }</pre>
 *
 * <p>As on the server, every connection is bounded by its material by default
 * ({@link ConnectionLifetime}): ended after the maximum age, by the server certificate's
 * {@code notAfter}, or when the CA that issued the server's chain leaves this client's trust
 * bundle. An HTTP/1.1 client's next request then says {@code Connection: close} and the connection
 * closes after its response; an unused one is closed at the grace's end; a pool then dials a new
 * connection with the current material. {@link Builder#unboundedConnections()} turns it off.
 *
 * <p>Before the source has material, {@code connect} fails with an {@link IllegalStateException}
 * that says so; the first snapshot is used as soon as it is published.
 */
@ChannelHandler.Sharable
public final class ClientTls extends NettyTls {

  private ClientTls(Builder b) {
    super(b, TlsListener.Side.CLIENT, true);
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelHandlerContext self = ch.pipeline().context(this);
    ch.pipeline().addAfter(self.name(), null, new ClientConnectHandler(cache, check, lifetime));
  }

  /**
   * A TLS handler pair for a channel whose server name is known up front, for pipelines that are
   * not set up through {@link io.netty.bootstrap.Bootstrap#handler} (for example a channel that
   * switches to TLS later). Adds the {@link io.netty.handler.ssl.SslHandler} and the peer check
   * right after the handler of {@code after}.
   *
   * @param after    the context after which the TLS handlers go
   * @param peerHost the DNS name or IP address the server's certificate must carry
   * @param peerPort the server's port (used for session caching)
   * @throws IllegalStateException if closed or the source has no material yet
   */
  public void install(ChannelHandlerContext after, String peerHost, int peerPort) {
    Objects.requireNonNull(after, "after");
    Objects.requireNonNull(peerHost, "peerHost");
    if (peerHost.isEmpty()) {
      throw new IllegalArgumentException("peerHost must name the server (a DNS name or IP address)");
    }
    if (peerPort < 1 || peerPort > 65535) {
      throw new IllegalArgumentException("peerPort must be 1..65535, was " + peerPort);
    }
    Pipelines.install(after, cache, check, peerHost, peerPort, lifetime);
  }

  /** Options of a {@link ClientTls}; obtained from {@link NettyMtls#forClient}. */
  public static final class Builder extends NettyTls.Builder<Builder, ClientTls> {
    Builder(MaterialSource source) {
      super(source);
    }

    @Override
    Builder self() {
      return this;
    }

    @Override
    public ClientTls build() {
      return new ClientTls(this);
    }
  }
}
