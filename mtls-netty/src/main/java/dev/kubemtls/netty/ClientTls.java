package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.netty.internal.ClientConnectHandler;
import dev.kubemtls.netty.internal.AlpnProtocols;
import dev.kubemtls.netty.internal.ContextCache;
import dev.kubemtls.netty.internal.PeerCheck;
import dev.kubemtls.netty.internal.Pipelines;
import dev.kubemtls.netty.internal.Providers;
import dev.kubemtls.netty.internal.TlsSettings;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.ssl.SslProvider;
import java.util.List;
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
 */
@ChannelHandler.Sharable
public final class ClientTls extends ChannelInitializer<Channel> implements AutoCloseable {

  private final ContextCache cache;
  private final PeerCheck check;
  private final TlsProvider provider;

  private ClientTls(Builder b, SslProvider resolved) {
    this.check = new PeerCheck(TlsListener.Side.CLIENT, b.policy, true, b.listener);
    this.provider = Providers.describe(resolved);
    this.cache = new ContextCache("client", b.source,
        new TlsSettings(false, resolved, ClientAuthMode.REQUIRE, b.alpn));
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelHandlerContext self = ch.pipeline().context(this);
    ch.pipeline().addAfter(self.name(), null, new ClientConnectHandler(cache, check));
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
    Pipelines.install(after, cache, check, peerHost, peerPort);
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The material generation new connections use, or 0 before the first. */
  public long generation() {
    return cache.currentGeneration();
  }

  /** Live TLS contexts: the current one plus superseded ones still used by open connections. */
  int liveContexts() {
    return cache.liveContexts();
  }

  /** Stops following the source; connections made afterwards fail. */
  @Override
  public void close() {
    cache.close();
  }

  /**
   * Options of a {@link ClientTls}; obtained from {@link NettyMtls#forClient}. Not thread-safe; each
   * {@link #build()} makes an independent instance.
   */
  public static final class Builder {
    private final MaterialSource source;
    private PeerPolicy policy = PeerPolicy.allowAll();
    private List<String> alpn = List.of();
    private TlsProvider provider = TlsProvider.AUTO;
    private TlsListener listener = TlsListener.NO_OP;

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    /**
     * Which servers may be talked to beyond the name check, e.g. only the SPIFFE ID
     * {@code spiffe://cluster.local/ns/shop/sa/orders}; every trusted server by default.
     */
    public Builder peerPolicy(PeerPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "peerPolicy");
      return this;
    }

    /** Protocols to offer with ALPN, most preferred first, e.g. {@code "h2", "http/1.1"}. Off by default. */
    public Builder alpn(String... protocols) {
      this.alpn = AlpnProtocols.check(protocols);
      return this;
    }

    /** The TLS implementation; {@link TlsProvider#AUTO} by default. */
    public Builder provider(TlsProvider provider) {
      this.provider = Objects.requireNonNull(provider, "provider");
      return this;
    }

    /**
     * Told about the outcome of every connection's handshake, including servers the policy
     * refuses (as {@link TlsListener.HandshakeFailure#PEER_NOT_ALLOWED}); {@link TlsListener#NO_OP} by
     * default, which costs nothing per connection. It is called on the channel's event loop and must
     * not block; what it throws is logged and ignored.
     */
    public Builder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * Validates the options and subscribes to the source, building the first context now when the
     * source has material.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material cannot make a TLS context
     */
    public ClientTls build() {
      return new ClientTls(this, Providers.resolve(provider, "client"));
    }
  }
}
