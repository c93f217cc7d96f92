package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.internal.CheckedSslEngine;
import dev.kubemtls.core.tls.TlsListener;
import io.grpc.Attributes;
import io.grpc.ClientTransportFilter;
import io.grpc.Grpc;
import java.time.Duration;
import java.util.Objects;
import javax.net.ssl.SSLSession;

/**
 * Tells a channel's listener of each successful handshake, when the connection's transport is ready:
 * grpc-netty builds the channel's pipeline and engine wrapper itself, so this is the one place a
 * client sees a completed handshake. By then the server's certificate passed the trust manager
 * (bundle, validity by the injected clock, dialled name, peer policy), which reports its own
 * refusals. {@code took} is zero: the transport does not expose the handshake's start.
 */
public final class ClientHandshakeReporter extends ClientTransportFilter {

  private final TlsListener listener;

  public ClientHandshakeReporter(TlsListener listener) {
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public Attributes transportReady(Attributes attributes) {
    SSLSession session = attributes.get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
    if (session != null) {
      listener.handshakeSucceeded(TlsListener.Side.CLIENT, CheckedSslEngine.peerOf(session),
          session.getProtocol(), session.getCipherSuite(), Duration.ZERO);
    }
    return attributes;
  }
}
