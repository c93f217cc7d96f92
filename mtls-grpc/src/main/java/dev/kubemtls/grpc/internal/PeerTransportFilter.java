package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import io.grpc.Attributes;
import io.grpc.ServerTransportFilter;

/**
 * Reads the client's identity once per connection, when its transport is ready, so that calls do
 * not parse the certificate again. The handshake itself was checked and reported by the peer check
 * after grpc's {@code SslHandler} ({@link PeerCheckingNegotiator}): a resumed session whose chain is
 * outside its validity window never gets here.
 */
public final class PeerTransportFilter extends ServerTransportFilter {

  @Override
  public Attributes transportReady(Attributes attributes) {
    PeerIdentity peer;
    try {
      peer = PeerContext.fromTransport(attributes);
    } catch (RuntimeException e) {
      // The interceptor refuses each call of this connection with the reason.
      return attributes;
    }
    return peer == null ? attributes : attributes.toBuilder().set(PeerContext.TRANSPORT_PEER, peer).build();
  }
}
