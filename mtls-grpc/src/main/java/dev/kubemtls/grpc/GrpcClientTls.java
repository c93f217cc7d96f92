package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.grpc.internal.ClientHandshakeReporter;
import io.grpc.ChannelCredentials;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettySslContextChannelCredentials;

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
public final class GrpcClientTls extends GrpcTls {

  private final ChannelCredentials credentials;
  /** Reports successful handshakes; null without a listener. */
  private final ClientHandshakeReporter reporter;

  private GrpcClientTls(Builder b) {
    super(b, false);
    this.credentials = NettySslContextChannelCredentials.create(context);
    this.reporter = b.listener == TlsListener.NO_OP ? null : new ClientHandshakeReporter(b.listener);
  }

  /**
   * The TLS of the channel's connections; give it to {@code Grpc.newChannelBuilder}. A channel built
   * that way reports only refused server certificates to the listener; one from
   * {@link #newChannelBuilder} also its successful handshakes.
   */
  public ChannelCredentials credentials() {
    return credentials;
  }

  /**
   * A Netty channel builder for {@code target} (e.g. {@code orders.shop.svc:8443}) with these
   * credentials, whose connections report their handshakes to the listener.
   */
  public NettyChannelBuilder newChannelBuilder(String target) {
    NettyChannelBuilder builder = NettyChannelBuilder.forTarget(target, credentials);
    return reporter == null ? builder : builder.addTransportFilter(reporter);
  }

  /** Options of a {@link GrpcClientTls}; obtained from {@link GrpcMtls#forClient}. Not thread-safe. */
  public static final class Builder extends GrpcTls.Builder<Builder, GrpcClientTls> {

    Builder(MaterialSource source) {
      super(source);
    }

    @Override
    Builder self() {
      return this;
    }

    @Override
    public GrpcClientTls build() {
      return new GrpcClientTls(this);
    }
  }
}
