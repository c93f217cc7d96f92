package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import io.grpc.Attributes;
import io.grpc.Grpc;
import io.grpc.ServerTransportFilter;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SSLSession;

/**
 * Reads the client's identity once per connection, when its transport is ready, so that calls do
 * not parse the certificate again, and tells the listener that the handshake succeeded.
 */
public final class PeerTransportFilter extends ServerTransportFilter {

  private final TlsListener listener;

  public PeerTransportFilter(TlsListener listener) {
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public Attributes transportReady(Attributes attributes) {
    SSLSession session = attributes.get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session == null) {
      return attributes;
    }
    PeerIdentity peer;
    try {
      peer = PeerContext.fromTransport(attributes);
    } catch (RuntimeException e) {
      // The interceptor refuses each call of this connection with the reason.
      return attributes;
    }
    if (listener != TlsListener.NO_OP) {
      listener.handshakeSucceeded(TlsListener.Side.SERVER, Optional.ofNullable(peer),
          session.getProtocol(), session.getCipherSuite(), Duration.ZERO);
    }
    return peer == null ? attributes : attributes.toBuilder().set(PeerContext.TRANSPORT_PEER, peer).build();
  }
}
