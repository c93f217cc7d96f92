package dev.kubemtls.servlet.internal;

import org.eclipse.jetty.io.ssl.SslHandshakeListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Logs failed TLS handshakes of a connector at DEBUG, with the remote address and the reason
 * (missing client certificate, unknown CA, expired certificate). DEBUG because any client on the
 * network can cause them. Not part of the public API.
 */
public final class HandshakeFailureLogger implements SslHandshakeListener {

  private static final Logger LOG = LoggerFactory.getLogger(HandshakeFailureLogger.class);

  @Override
  public void handshakeFailed(Event event, Throwable failure) {
    if (LOG.isDebugEnabled()) {
      LOG.debug("TLS handshake with {} failed: {}", event.getEndPoint().getRemoteSocketAddress(),
          failure.getMessage());
    }
  }
}
