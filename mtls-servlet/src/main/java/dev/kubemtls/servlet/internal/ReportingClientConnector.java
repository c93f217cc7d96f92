package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.tls.TlsListener;
import javax.net.ssl.SSLEngine;
import org.eclipse.jetty.io.ClientConnectionFactory;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslClientConnectionFactory;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A {@link ClientConnector} whose TLS connections report their handshakes to a {@link TlsListener}
 * (see {@link HandshakeReporter}). Jetty's {@code HttpClient} asks its connector for the factory of
 * TLS connections, so this covers every connection the client makes. Not part of the public API.
 */
public final class ReportingClientConnector extends ClientConnector {

  private final TlsListener listener;

  public ReportingClientConnector(TlsListener listener) {
    this.listener = listener;
  }

  @Override
  public ClientConnectionFactory newSslClientConnectionFactory(
      SslContextFactory.Client sslContextFactory, ClientConnectionFactory next) {
    SslContextFactory.Client factory =
        sslContextFactory == null ? getSslContextFactory() : sslContextFactory;
    return new SslClientConnectionFactory(factory, getByteBufferPool(), getExecutor(), next) {
      @Override
      protected SslConnection newSslConnection(EndPoint endPoint, SSLEngine engine) {
        return HandshakeReporter.attach(super.newSslConnection(endPoint, engine),
            TlsListener.Side.CLIENT, listener);
      }
    };
  }
}
