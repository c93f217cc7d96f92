package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.grpc.internal.PeerCheckingNegotiator;
import dev.kubemtls.grpc.internal.PeerInterceptor;
import dev.kubemtls.grpc.internal.PeerTransportFilter;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.ServerTransportFilter;
import io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

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
public final class GrpcServerTls extends GrpcTls {

  /** The default maximum connection age. */
  public static final Duration DEFAULT_MAX_CONNECTION_AGE = Duration.ofMinutes(30);
  /** How long calls on a connection past its age may still run, by default. */
  public static final Duration DEFAULT_MAX_CONNECTION_AGE_GRACE = Duration.ofMinutes(5);

  private final ServerCredentials credentials;
  private final ServerInterceptor interceptor;
  private final ServerTransportFilter filter;
  private final Optional<Duration> maxConnectionAge;
  private final Duration maxConnectionAgeGrace;

  private GrpcServerTls(Builder b) {
    super(b, true);
    this.maxConnectionAge = b.maxConnectionAge;
    this.maxConnectionAgeGrace = b.maxConnectionAgeGrace;
    this.credentials = PeerCheckingNegotiator.server(context, check);
    this.interceptor = new PeerInterceptor(b.peerPolicy, b.policy.clientAuth() == ClientAuth.REQUIRE, b.listener);
    this.filter = new PeerTransportFilter();
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

  /**
   * Options of a {@link GrpcServerTls}; obtained from {@link GrpcMtls#forServer}. Not thread-safe.
   */
  public static final class Builder extends GrpcTls.Builder<Builder, GrpcServerTls> {
    private Optional<Duration> maxConnectionAge = Optional.of(DEFAULT_MAX_CONNECTION_AGE);
    private Duration maxConnectionAgeGrace = DEFAULT_MAX_CONNECTION_AGE_GRACE;

    Builder(MaterialSource source) {
      super(source);
    }

    @Override
    Builder self() {
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

    @Override
    public GrpcServerTls build() {
      return new GrpcServerTls(this);
    }
  }
}
