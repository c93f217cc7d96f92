package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.internal.SafeTlsListener;
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
 * {@link PeerVerifiedEvent} goes down the pipeline, and a client outside the {@link PeerPolicy} is
 * disconnected with a logged reason. A {@link TlsListener} given to the builder hears the outcome of
 * every handshake.
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
 * <p>{@link #close()} stops following the source; connections accepted afterwards are refused.
 */
@ChannelHandler.Sharable
public final class ServerTls extends ChannelInitializer<Channel> implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);

  private final ContextCache cache;
  private final PeerCheck check;
  private final TlsProvider provider;

  private ServerTls(Builder b, SslProvider resolved) {
    this.check = new PeerCheck(TlsListener.Side.SERVER, b.policy, b.clientAuth == ClientAuthMode.REQUIRE,
        b.listener);
    this.provider = Providers.describe(resolved);
    this.cache = new ContextCache("server", b.source,
        new TlsSettings(true, resolved, b.clientAuth, b.alpn));
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelHandlerContext self = ch.pipeline().context(this);
    try {
      Pipelines.install(self, cache, check, null, 0);
    } catch (IllegalStateException e) {
      LOG.warn("kube-mtls server: refusing the connection from {}: {}", ch.remoteAddress(), e.getMessage());
      ch.close();
    }
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The material generation new connections are served with, or 0 before the first. */
  public long generation() {
    return cache.currentGeneration();
  }

  /** Live TLS contexts: the current one plus superseded ones still used by open connections. */
  int liveContexts() {
    return cache.liveContexts();
  }

  /** Stops following the source and frees the current context once its connections have closed. */
  @Override
  public void close() {
    cache.close();
  }

  /**
   * Options of a {@link ServerTls}; obtained from {@link NettyMtls#forServer}. Not thread-safe; each
   * {@link #build()} makes an independent instance.
   */
  public static final class Builder {
    private final MaterialSource source;
    private ClientAuthMode clientAuth = ClientAuthMode.REQUIRE;
    private PeerPolicy policy = PeerPolicy.allowAll();
    private List<String> alpn = List.of();
    private TlsProvider provider = TlsProvider.AUTO;
    private TlsListener listener = TlsListener.NO_OP;

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    /** Whether clients must present a certificate; {@link ClientAuthMode#REQUIRE} by default. */
    public Builder clientAuth(ClientAuthMode mode) {
      this.clientAuth = Objects.requireNonNull(mode, "clientAuth");
      return this;
    }

    /** Which verified clients may stay connected; everyone the trust bundle accepts by default. */
    public Builder peerPolicy(PeerPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "peerPolicy");
      return this;
    }

    /**
     * Protocols to negotiate with ALPN, most preferred first, e.g. {@code "h2", "http/1.1"}. Off by
     * default. A client that offers none of them is served without ALPN.
     */
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
     * Told about the outcome of every connection's handshake, including peers the policy refuses
     * (as {@link TlsListener.HandshakeFailure#PEER_NOT_ALLOWED}); {@link TlsListener#NO_OP} by
     * default, which costs nothing per connection. It is called on the channel's event loop and must
     * not block; what it throws is logged and ignored.
     */
    public Builder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * Validates the options and subscribes to the source. When the source already has material its
     * context is built here, so bad material or options fail now rather than on the first client.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material cannot make a TLS context
     */
    public ServerTls build() {
      return new ServerTls(this, Providers.resolve(provider, "server"));
    }
  }
}
