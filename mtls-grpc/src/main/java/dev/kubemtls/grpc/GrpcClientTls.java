package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.grpc.internal.PeerCheckingNegotiator;
import io.grpc.ChannelCredentials;
import io.grpc.netty.NettyChannelBuilder;

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

  private GrpcClientTls(Builder b) {
    super(b, false);
    this.credentials = PeerCheckingNegotiator.client(context, check);
  }

  /**
   * The TLS of the channel's connections; give it to {@code Grpc.newChannelBuilder} (Netty
   * transport). Its connections report their handshakes to the listener wherever the channel is
   * built.
   */
  public ChannelCredentials credentials() {
    return credentials;
  }

  /** A Netty channel builder for {@code target} (e.g. {@code orders.shop.svc:8443}) with these credentials. */
  public NettyChannelBuilder newChannelBuilder(String target) {
    return NettyChannelBuilder.forTarget(target, credentials);
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
