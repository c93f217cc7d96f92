package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.SafeTlsListener;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.grpc.internal.ContextFactory;
import dev.kubemtls.grpc.internal.FollowingSslContext;
import dev.kubemtls.grpc.internal.PeerInterceptor;
import dev.kubemtls.grpc.internal.PeerTransportFilter;
import dev.kubemtls.grpc.internal.Providers;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerTransportFilter;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.NettySslContextServerCredentials;
import io.netty.handler.ssl.SslProvider;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;

/**
 * Server-side mTLS for gRPC that follows a {@link MaterialSource}: each accepted connection's TLS
 * handshake uses the key, chain and trust bundle current at that moment.
 *
 * <p>The handle has three parts, which {@link #newServerBuilder(int)} installs together:
 * {@link #credentials()} (the TLS of the connections; clients must present a certificate by
 * default), {@link #interceptor()} (the caller's {@link dev.kubemtls.core.peer.PeerIdentity} in the
 * call's Context, and the {@link PeerPolicy}: a refused caller gets {@code PERMISSION_DENIED} with the
 * reason) and {@link #transportFilter()} (reads the identity once per connection). A connection is
 * closed gracefully once it is {@link Builder#maxConnectionAge older than the maximum age}, so that
 * long-lived channels reconnect with current material after a rotation.
 *
 * <pre>{@code
 * GrpcServerTls tls = GrpcMtls.forServer(source).peerPolicy(policy).build();
 * Server server = tls.newServerBuilder(8443).addService(new MyService()).build().start();
 * }</pre>
 *
 * <p>One Netty TLS context is built per material generation, when the source publishes it; a
 * superseded one is freed when its last connection closes. Before the source has material,
 * handshakes fail. {@link #close()} stops following the source.
 */
public final class GrpcServerTls implements AutoCloseable {

  /** The default maximum connection age. */
  public static final Duration DEFAULT_MAX_CONNECTION_AGE = Duration.ofMinutes(30);
  /** How long calls on a connection past its age may still run, by default. */
  public static final Duration DEFAULT_MAX_CONNECTION_AGE_GRACE = Duration.ofMinutes(5);

  private final FollowingSslContext context;
  private final ServerCredentials credentials;
  private final ServerInterceptor interceptor;
  private final ServerTransportFilter filter;
  private final TlsProvider provider;
  private final TlsPolicy policy;
  private final PeerPolicy peerPolicy;
  private final Optional<Duration> maxConnectionAge;
  private final Duration maxConnectionAgeGrace;

  private GrpcServerTls(Builder b) {
    SslProvider resolved = Providers.resolve(b.provider.name(), "server");
    this.provider = resolved == SslProvider.JDK ? TlsProvider.JDK : TlsProvider.OPENSSL;
    this.policy = b.policy;
    this.peerPolicy = b.peerPolicy;
    this.maxConnectionAge = b.maxConnectionAge;
    this.maxConnectionAgeGrace = b.maxConnectionAgeGrace;
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(GrpcServerTls.class), System::nanoTime);
    this.context = new FollowingSslContext("server", b.source,
        new ContextFactory(true, resolved, b.policy, b.peerPolicy, log, b.listener));
    this.credentials = NettySslContextServerCredentials.create(context);
    this.interceptor = new PeerInterceptor(b.peerPolicy, b.policy.clientAuth() == ClientAuth.REQUIRE, b.listener);
    this.filter = new PeerTransportFilter(b.listener);
  }

  /** The TLS of the server's connections; give it to {@code Grpc.newServerBuilderForPort}. */
  public ServerCredentials credentials() {
    return credentials;
  }

  /** Puts the verified caller into each call's Context and applies the {@link PeerPolicy}. */
  public ServerInterceptor interceptor() {
    return interceptor;
  }

  /** Reads the caller's identity once per connection (optional: the interceptor reads it otherwise). */
  public ServerTransportFilter transportFilter() {
    return filter;
  }

  /**
   * A Netty server builder on {@code port} (all interfaces) with this handle's credentials,
   * interceptor, transport filter and maximum connection age; add services and build.
   */
  public NettyServerBuilder newServerBuilder(int port) {
    return newServerBuilder(new InetSocketAddress(port));
  }

  /** As {@link #newServerBuilder(int)}, on {@code address}. */
  public NettyServerBuilder newServerBuilder(SocketAddress address) {
    NettyServerBuilder b = NettyServerBuilder.forAddress(address, credentials)
        .intercept(interceptor)
        .addTransportFilter(filter);
    maxConnectionAge.ifPresent(age -> b.maxConnectionAge(age.toNanos(), TimeUnit.NANOSECONDS)
        .maxConnectionAgeGrace(maxConnectionAgeGrace.toNanos(), TimeUnit.NANOSECONDS));
    return b;
  }

  /** The maximum connection age {@link #newServerBuilder} applies; empty for none. */
  public Optional<Duration> maxConnectionAge() {
    return maxConnectionAge;
  }

  /** How long calls may run on a connection past its maximum age. */
  public Duration maxConnectionAgeGrace() {
    return maxConnectionAgeGrace;
  }

  /** The provider in use: {@link TlsProvider#OPENSSL} or {@link TlsProvider#JDK}, never AUTO. */
  public TlsProvider provider() {
    return provider;
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list applied to every call's caller. */
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
   * Options of a {@link GrpcServerTls}; obtained from {@link GrpcMtls#forServer}. Not thread-safe.
   */
  public static final class Builder {
    private final MaterialSource source;
    private TlsPolicy policy = TlsPolicy.defaults();
    private PeerPolicy peerPolicy = PeerPolicy.anySpiffeId();
    private TlsProvider provider = TlsProvider.AUTO;
    private TlsListener listener = TlsListener.NO_OP;
    private Optional<Duration> maxConnectionAge = Optional.of(DEFAULT_MAX_CONNECTION_AGE);
    private Duration maxConnectionAgeGrace = DEFAULT_MAX_CONNECTION_AGE_GRACE;

    Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    /**
     * Protocols, cipher suites, signature schemes, groups and client auth; {@link TlsPolicy#defaults()}
     * (client certificate required) by default.
     */
    public Builder policy(TlsPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * Which verified callers may call; {@link PeerPolicy#anySpiffeId()} by default. Checked per call
     * by {@link GrpcServerTls#interceptor()}.
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
     * Told of certificates the handshake refuses ({@code handshakeFailed}), of connections whose
     * transport is ready ({@code handshakeSucceeded}, with a {@code took} of zero: gRPC does not
     * expose the handshake's start) and of refused calls ({@code requestRefused}). It must not block;
     * what it throws is logged and ignored.
     */
    public Builder listener(TlsListener listener) {
      this.listener = SafeTlsListener.wrap(listener);
      return this;
    }

    /**
     * Closes a connection gracefully (HTTP/2 GOAWAY, the client reconnects with a new handshake)
     * once it is {@code age} old, letting its calls run for {@code grace} more. Default 30 minutes
     * and 5 minutes: after a rotation no connection outlives the material it was opened with by
     * more than that, at the cost of one handshake per connection per age. Streams that must run
     * longer than age plus grace need {@link #noMaxConnectionAge()}.
     */
    public Builder maxConnectionAge(Duration age, Duration grace) {
      Objects.requireNonNull(age, "age");
      Objects.requireNonNull(grace, "grace");
      if (age.isNegative() || age.isZero() || grace.isNegative()) {
        throw new IllegalArgumentException("maxConnectionAge must be positive and its grace not negative,"
            + " were " + age + " and " + grace);
      }
      this.maxConnectionAge = Optional.of(age);
      this.maxConnectionAgeGrace = grace;
      return this;
    }

    /** Lets connections live as long as client and server keep them. */
    public Builder noMaxConnectionAge() {
      this.maxConnectionAge = Optional.empty();
      return this;
    }

    /**
     * Validates the options and subscribes to the source; when it has material, the first TLS
     * context is built now so that bad material fails here.
     *
     * @throws IllegalStateException if {@link TlsProvider#OPENSSL} was asked for and is unavailable
     * @throws IllegalArgumentException if the current material or the policy cannot make a context
     */
    public GrpcServerTls build() {
      return new GrpcServerTls(this);
    }
  }
}
