package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.grpc.internal.ContextFactory;
import dev.kubemtls.grpc.internal.FollowingSslContext;
import dev.kubemtls.grpc.internal.Providers;
import io.grpc.ChannelCredentials;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.netty.handler.ssl.SslProvider;
import java.util.Objects;
import org.slf4j.LoggerFactory;

/**
 * Client-side mTLS for gRPC channels that follows a {@link MaterialSource}: each new connection of a
 * channel presents the certificate current at that moment and checks the server against the trust
 * bundle current at that moment.
 *
 * <p>The server must prove the name the channel dialled: the DNS name or IP address of the target
 * (or the channel's authority override) must be among its certificate's SANs. It must also pass the
 * {@link PeerPolicy} (by default any SPIFFE ID; name the server's ServiceAccount to pin it), checked
 * in the handshake, so a server outside it never sees a request: the call fails with
 * {@code UNAVAILABLE}.
 *
 * <pre>{@code
 * GrpcClientTls tls = GrpcMtls.forClient(source).build();
 * ManagedChannel channel = tls.newChannelBuilder("orders.shop.svc:8443").build();
 * }</pre>
 */
public final class GrpcClientTls implements AutoCloseable {

  private final FollowingSslContext context;
  private final ChannelCredentials credentials;
  private final TlsProvider provider;
  private final TlsPolicy policy;
  private final PeerPolicy peerPolicy;

  private GrpcClientTls(Builder b) {
    SslProvider resolved = Providers.resolve(b.provider.name(), "client");
    this.provider = resolved == SslProvider.JDK ? TlsProvider.JDK : TlsProvider.OPENSSL;
    this.policy = b.policy;
    this.peerPolicy = b.peerPolicy;
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(GrpcClientTls.class), System::nanoTime);
    this.context = new FollowingSslContext("client", b.source,
        new ContextFactory(false, resolved, b.policy, b.peerPolicy, log, b.listener));
    this.credentials = NettySslContextChannelCredentials.create(context);
  }

  /** The TLS of the channel's connections; give it to {@code Grpc.newChannelBuilder}. */
  public ChannelCredentials credentials() {
    return credentials;
  }

  /** A Netty channel builder for {@code target} (e.g. {@code orders.shop.svc:8443}) with these credentials. */
  public NettyChannelBuilder newChannelBuilder(String target) {
    return NettyChannelBuilder.forTarget(target, credentials);
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list applied to every server. */
  public PeerPolicy peerPolicy() {
    return peerPolicy;
  }

  /** The material generation new connections use, or 0 before the first. */
  public long generation() {
    return context.currentGeneration();
  }

  int liveContexts() {
    return context.liveContexts();
  }

  /** Stops following the source; handshakes after this fail. Closing twice is harmless. */
  @Override
  public void close() {
    context.close();
  }

  /** Options of a {@link GrpcClientTls}; obtained from {@link GrpcMtls#forClient}. Not thread-safe. */
  public static final class Builder {
    private final MaterialSource source;
    private TlsPolicy policy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private TlsProvider provider = TlsProvider.AUTO;
    private TlsListener listener = TlsListener.NO_OP;

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    /** Protocols, cipher suites, signature schemes and groups; its client auth is ignored. */
    public Builder policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Which servers this channel talks to, checked in the handshake after the name check;
     * {@link PeerPolicy#anySpiffeId()} by default. Pin a server with
     * {@code PeerPolicy.builder().allowServiceAccount("shop", "orders").build()}.
     */
    public Builder peerPolicy(PeerPolicy policy) {
      this.peerPolicy = Objects.requireNonNull(policy, "peerPolicy");
      return this;
    }

    /** The TLS implementation; {@link TlsProvider#AUTO} by default. */
    public Builder provider(TlsProvider provider) {
      this.provider = Objects.requireNonNull(provider, "provider");
      return this;
    }

    /**
     * Told of server certificates the handshake refuses ({@code handshakeFailed}: untrusted, expired,
     * wrong name, outside the policy). It must not block; what it throws is logged and ignored.
     */
    public Builder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * Validates the options and subscribes to the source; when it has material, the first TLS
     * context is built now.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material or the policy cannot make a context
     */
    public GrpcClientTls build() {
      return new GrpcClientTls(this);
    }
  }
}
