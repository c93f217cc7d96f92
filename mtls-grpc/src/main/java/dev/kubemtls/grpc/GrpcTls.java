package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.internal.VerifiedChains;
import dev.kubemtls.grpc.internal.FollowingSslContext;
import dev.kubemtls.grpc.internal.PeerCheckingNegotiator;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.netty.internal.PeerCheck;
import dev.kubemtls.netty.internal.Providers;
import dev.kubemtls.netty.internal.TlsSettings;
import io.netty.handler.ssl.SslProvider;
import java.util.Objects;
import org.slf4j.LoggerFactory;

/**
 * What a gRPC server handle ({@link GrpcServerTls}) and a channel handle ({@link GrpcClientTls})
 * share: one Netty TLS context per material generation of a {@link MaterialSource}, behind one
 * {@code SslContext} that grpc-netty asks for an engine per connection, so each new connection uses
 * the key, chain and trust bundle current at that moment; the {@link TlsPolicy}, the
 * {@link PeerPolicy} and the provider chosen. {@link #close()} stops following the source.
 */
public abstract sealed class GrpcTls implements AutoCloseable permits GrpcServerTls, GrpcClientTls {

  final FollowingSslContext context;
  private final TlsProvider provider;
  private final TlsPolicy policy;
  private final PeerPolicy peerPolicy;
  /** Peer chains verified under the current CAs, for all generations; its clock checks validity. */
  final VerifiedChains chains;
  /**
   * What mtls-netty's peer check after each connection's handshake needs: it reports every
   * handshake to the listener (as on a Netty server or client) and refuses a resumed session whose
   * peer chain is outside its validity window.
   */
  final PeerCheck check;

  GrpcTls(Builder<?, ?> b, boolean server) {
    String side = server ? "gRPC server" : "gRPC client";
    SslProvider resolved = Providers.resolve(b.provider, side);
    this.provider = Providers.describe(resolved);
    this.policy = b.policy;
    this.peerPolicy = b.peerPolicy;
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(getClass()), System::nanoTime);
    this.chains = new VerifiedChains(b.clock, VerifiedChains.DEFAULT_MAX_ENTRIES);
    // A server leaves the peer policy to its interceptor, so that a refused caller gets a status
    // with the reason (its peer check lets every verified client through); a channel applies it in
    // the handshake. The peer check after grpc's SslHandler reports every handshake, so the trust
    // manager reports nothing itself (as in a Netty pipeline).
    this.check = server
        ? new PeerCheck(TlsListener.Side.SERVER, PeerPolicy.allowAll(), false, b.listener, chains)
        : new PeerCheck(TlsListener.Side.CLIENT, b.peerPolicy, true, b.listener, chains);
    this.context = new FollowingSslContext(side, b.source, new TlsSettings(server, resolved, b.policy,
        FollowingSslContext.H2, log, chains, server ? null : b.peerPolicy), PeerCheckingNegotiator.noEngine(check));
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list applied to every peer (a server's callers, a channel's servers). */
  public PeerPolicy peerPolicy() {
    return peerPolicy;
  }

  /** The material generation new connections use, or 0 before the first. */
  public long generation() {
    return context.currentGeneration();
  }

  /** The current TLS context plus superseded ones still used by open connections. */
  int liveContexts() {
    return context.liveContexts();
  }

  /**
   * Stops following the source and drops the hold on the current TLS context, which is freed once
   * its open connections have closed; handshakes after this fail. Closing twice is harmless.
   */
  @Override
  public void close() {
    context.close();
  }

  /**
   * The options both handles share. Not thread-safe.
   *
   * @param <B> the concrete builder
   * @param <T> the handle it builds
   */
  public abstract static sealed class Builder<B extends Builder<B, T>, T extends GrpcTls>
      permits GrpcServerTls.Builder, GrpcClientTls.Builder {
    final MaterialSource source;
    TlsPolicy policy = TlsPolicy.defaults();
    PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    TlsProvider provider = TlsProvider.AUTO;
    TlsListener listener = TlsListener.NO_OP;
    java.time.InstantSource clock = java.time.InstantSource.system();

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    abstract B self();

    /**
     * The clock peer certificates' validity is checked against, in every handshake and (on a server)
     * on every call; the system clock by default. For tests.
     */
    B clock(java.time.InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return self();
    }

    /**
     * Protocols, cipher suites, signature schemes, groups and client auth; {@link TlsPolicy#defaults()}
     * (client certificate required) by default. Channels ignore its client auth.
     */
    public B policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return self();
    }

    /**
     * Which verified peers are served; {@link PeerPolicy#anySpiffeId()} by default. A server checks
     * each call's caller in {@link GrpcServerTls#interceptor()} ({@code PERMISSION_DENIED} with the
     * reason); a channel checks the server in the handshake, after the name check (pin a server with
     * {@code PeerPolicy.builder().allowServiceAccount("shop", "orders").build()}).
     */
    public B peerPolicy(PeerPolicy policy) {
      this.peerPolicy = Objects.requireNonNull(policy, "peerPolicy");
      return self();
    }

    /** The TLS implementation; {@link TlsProvider#AUTO} by default. */
    public B provider(TlsProvider provider) {
      this.provider = Objects.requireNonNull(provider, "provider");
      return self();
    }

    /**
     * Told of every connection's handshake, once, exactly as a Netty server or client reports it:
     * {@code handshakeSucceeded} with the peer, protocol, suite and how long the handshake took, or
     * {@code handshakeFailed} with the class (no common protocol, group or signature scheme, plain
     * text, no client certificate, an untrusted, expired or wrongly named certificate, a server
     * outside a channel's policy, an alert from the peer, a connection closed during the handshake).
     * A server also hears of refused calls ({@code requestRefused}): it applies its
     * {@link PeerPolicy} per call. Channels built from {@link GrpcClientTls#credentials()} anywhere
     * report as those from {@link GrpcClientTls#newChannelBuilder} do. It is called on the
     * connection's event loop and must not block; what it throws is logged and ignored.
     */
    public B listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return self();
    }

    /**
     * Validates the options and subscribes to the source; when it has material, the first TLS
     * context is built now so that bad material fails here.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material or the policy cannot make a context
     */
    public abstract T build();
  }
}
