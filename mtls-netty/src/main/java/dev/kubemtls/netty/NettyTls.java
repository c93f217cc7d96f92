package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.core.internal.VerifiedChains;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.netty.internal.AlpnProtocols;
import dev.kubemtls.netty.internal.ContextCache;
import dev.kubemtls.netty.internal.PeerCheck;
import dev.kubemtls.netty.internal.Providers;
import dev.kubemtls.netty.internal.TlsSettings;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;
import org.slf4j.LoggerFactory;

/**
 * What a {@link ServerTls} and a {@link ClientTls} have in common: a handle on one TLS
 * configuration that follows a {@link MaterialSource}. It is the pipeline piece (a sharable
 * {@link ChannelInitializer}) and the closeable owner of the TLS contexts built for the source's
 * snapshots, one per generation.
 *
 * <p>A handle can be built before the source has material: connections made or accepted until the
 * first snapshot arrives are refused (a server closes them, a client's connect fails with an
 * {@link IllegalStateException} saying there is no material yet), and the first snapshot is used as
 * soon as it is published. {@link #close()} stops following the source; a handle that is dropped
 * without being closed stops following it and frees its current context once it is unreachable.
 */
public abstract sealed class NettyTls extends ChannelInitializer<Channel> implements AutoCloseable
    permits ServerTls, ClientTls {

  final ContextCache cache;
  final PeerCheck check;
  /** Peer chains verified under the current CAs and leaf identities, for all generations. */
  final VerifiedChains chains;
  private final TlsProvider provider;
  private final TlsPolicy policy;
  /** Bounds every connection's age by the material it was made with; null when turned off. */
  final ConnectionLifetime lifetime;

  NettyTls(Builder<?, ?> b, TlsListener.Side side, boolean certificateRequired) {
    String label = side == TlsListener.Side.SERVER ? "server" : "client";
    SslProvider resolved = Providers.resolve(b.provider, label);
    this.policy = b.policy;
    this.provider = Providers.describe(resolved);
    this.chains = new VerifiedChains(b.clock, VerifiedChains.DEFAULT_MAX_ENTRIES);
    this.check = new PeerCheck(side, b.peerPolicy, certificateRequired, b.listener, chains);
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(getClass()), System::nanoTime);
    this.cache = new ContextCache(label, b.source,
        new TlsSettings(side == TlsListener.Side.SERVER, resolved, b.policy, b.alpn, log, chains,
            b.peerPolicy));
    this.lifetime = b.maxConnectionAge == null ? null
        : ConnectionLifetime.builder(b.source).maxAge(b.maxConnectionAge).clock(b.clock).build();
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list applied to every verified peer. */
  public PeerPolicy peerPolicy() {
    return check.policy();
  }

  /** The material generation new connections use, or 0 before the first. */
  public long generation() {
    return cache.currentGeneration();
  }

  /** Live TLS contexts: the current one plus superseded ones still used by open connections. */
  int liveContexts() {
    return cache.liveContexts();
  }

  /** The context new connections get (null before the first); for tests of its lifetime. */
  SslContext currentContext() {
    return cache.currentContext();
  }

  /**
   * Stops following the source and drops this handle's hold on the current context, which is freed
   * once its open connections have closed; connections made afterwards are refused. Closing twice
   * is harmless.
   */
  @Override
  public void close() {
    cache.close();
    if (lifetime != null) {
      lifetime.close();
    }
  }

  /**
   * The options both builders share. Not thread-safe; each {@link #build()} makes an independent
   * handle.
   *
   * @param <B> the concrete builder
   * @param <T> the handle it builds
   */
  public abstract static sealed class Builder<B extends Builder<B, T>, T extends NettyTls>
      permits ServerTls.Builder, ClientTls.Builder {
    final MaterialSource source;
    TlsPolicy policy = TlsPolicy.defaults();
    PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    List<String> alpn = List.of();
    TlsProvider provider = TlsProvider.AUTO;
    TlsListener listener = TlsListener.NO_OP;
    InstantSource clock = InstantSource.system();
    /** Null: connections are not bounded ({@link #unboundedConnections}). */
    java.time.Duration maxConnectionAge = ConnectionLifetime.DEFAULT_MAX_AGE;

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    abstract B self();

    /**
     * Protocols, cipher suites, signature schemes, groups and client auth; {@link TlsPolicy#defaults()}
     * by default. Clients ignore its client auth.
     */
    public B policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return self();
    }

    /**
     * Which verified peers may stay connected; {@link PeerPolicy#anySpiffeId()} by default, which
     * refuses a trusted certificate without a SPIFFE ID. A refused peer is disconnected with a
     * logged reason before it sees or sends any application data.
     */
    public B peerPolicy(PeerPolicy policy) {
      this.peerPolicy = Objects.requireNonNull(policy, "peerPolicy");
      return self();
    }

    /**
     * Protocols to negotiate with ALPN, most preferred first, e.g. {@code "h2", "http/1.1"}. Off by
     * default. A server serves a client that offers none of them without ALPN.
     */
    public B alpn(String... protocols) {
      this.alpn = AlpnProtocols.check(protocols);
      return self();
    }

    /** The TLS implementation; {@link TlsProvider#AUTO} by default. */
    public B provider(TlsProvider provider) {
      this.provider = Objects.requireNonNull(provider, "provider");
      return self();
    }

    /**
     * Told about the outcome of every connection's handshake, including peers the policy refuses
     * (as {@link TlsListener.HandshakeFailure#PEER_NOT_ALLOWED}); {@link TlsListener#NO_OP} by
     * default, which costs nothing per connection. It is called on the channel's event loop and must
     * not block; what it throws is logged and ignored.
     */
    public B listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return self();
    }

    /**
     * The longest a connection stays open ({@link ConnectionLifetime#DEFAULT_MAX_AGE}, 30 minutes,
     * gRPC's default here, unless set). Every connection is bounded by its material by default: it is
     * ended after this age, by the peer certificate's {@code notAfter}, and when a new snapshot's
     * trust bundle no longer holds the CA that issued the peer's chain, gracefully where the
     * protocol allows (HTTP/2 GOAWAY, HTTP/1.1 {@code Connection: close}, otherwise once the
     * connection is quiet) and at the latest {@link ConnectionLifetime#DEFAULT_GRACE} after it
     * became due: see {@link ConnectionLifetime}, which every pipeline set up by this handle gets
     * right after the peer check. The bound keeps the handle subscribed to the source until
     * {@link #close()} (or until the handle and its connections are unreachable).
     */
    public B maxConnectionAge(java.time.Duration maxAge) {
      Objects.requireNonNull(maxAge, "maxAge");
      if (maxAge.isNegative() || maxAge.isZero()) {
        throw new IllegalArgumentException("maxConnectionAge must be positive, was " + maxAge);
      }
      this.maxConnectionAge = maxAge;
      return self();
    }

    /**
     * Turns the connection lifetime bound off: connections then stay open as long as the
     * application and the peer keep them, also past the peer certificate's {@code notAfter} and the
     * retirement of its CA. For protocols that end their connections themselves.
     */
    public B unboundedConnections() {
      this.maxConnectionAge = null;
      return self();
    }

    /**
     * The clock peer certificates' validity is checked against on every handshake, also for a chain
     * verified before; the system clock by default. For tests.
     */
    B clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return self();
    }

    /**
     * Validates the options and subscribes to the source. When the source already has material its
     * context is built here, so bad material or options fail now rather than on the first
     * connection; without material the handle is built all the same and refuses connections until
     * the first snapshot.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material or the policy cannot make a TLS context
     */
    public abstract T build();
  }
}
