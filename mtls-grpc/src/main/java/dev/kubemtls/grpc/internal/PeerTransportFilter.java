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
 * not parse the certificate again, checks that the client's chain is valid at that moment by the
 * injected clock (a resumed TLS session skips the trust manager, so this is the check of every
 * handshake, resumed or not; the interceptor refuses the calls of a connection that failed it), and
 * tells the listener that the handshake succeeded. A connection that was valid when it was made
 * keeps serving its calls until it closes (the server's maximum connection age bounds that).
 */
public final class PeerTransportFilter extends ServerTransportFilter {

  private final TlsListener listener;
  private final java.time.InstantSource clock;

  public PeerTransportFilter(TlsListener listener, java.time.InstantSource clock) {
    this.listener = Objects.requireNonNull(listener, "listener");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public Attributes transportReady(Attributes attributes) {
    SSLSession session = attributes.get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session == null) {
      return attributes;
    }
    try {
      dev.kubemtls.core.internal.PeerValidity.check(session.getPeerCertificates(), clock.instant());
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      // No client certificate: the interceptor decides by the policy.
    } catch (java.security.cert.CertificateException e) {
      if (listener != TlsListener.NO_OP) {
        listener.handshakeFailed(TlsListener.Side.SERVER, TlsListener.HandshakeFailure.EXPIRED_PEER_CERTIFICATE, e,
            Duration.ZERO);
      }
      return attributes.toBuilder().set(PeerContext.TRANSPORT_INVALID, e.getMessage()).build();
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
