package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.internal.HandshakeFailures;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.io.ssl.SslHandshakeListener;

/**
 * Reports the handshake of one Jetty {@link SslConnection} to a {@link TlsListener}. One is added to
 * each connection when it is created, which is when its handshake starts, so that it can say how
 * long the handshake took; connections of a connector or client without a listener get none. Not
 * part of the public API.
 */
public final class HandshakeReporter implements SslHandshakeListener {

  private final TlsListener.Side side;
  private final TlsListener listener;
  private final long started;

  private HandshakeReporter(TlsListener.Side side, TlsListener listener) {
    this.side = side;
    this.listener = listener;
    this.started = System.nanoTime();
  }

  /** Adds a reporter to {@code connection} unless {@code listener} is {@link TlsListener#NO_OP}. */
  public static SslConnection attach(SslConnection connection, TlsListener.Side side,
      TlsListener listener) {
    if (listener != TlsListener.NO_OP) {
      connection.addHandshakeListener(new HandshakeReporter(side, listener));
    }
    return connection;
  }

  @Override
  public void handshakeSucceeded(Event event) {
    SSLSession session = event.getSSLEngine().getSession();
    listener.handshakeSucceeded(side, peer(session), session.getProtocol(), session.getCipherSuite(),
        took());
  }

  @Override
  public void handshakeFailed(Event event, Throwable failure) {
    listener.handshakeFailed(side, HandshakeFailures.classify(failure), failure, took());
  }

  private Duration took() {
    return Duration.ofNanos(Math.max(0, System.nanoTime() - started));
  }

  /** The identity in the verified leaf; empty without a certificate or with an unreadable one. */
  private static Optional<PeerIdentity> peer(SSLSession session) {
    try {
      Certificate[] chain = session.getPeerCertificates();
      if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
        return Optional.of(PeerIdentity.of(leaf));
      }
      return Optional.empty();
    } catch (SSLPeerUnverifiedException | InvalidMaterialException e) {
      // No certificate (optional client auth), or one that MtlsPeerFilter will refuse per request.
      return Optional.empty();
    }
  }
}
