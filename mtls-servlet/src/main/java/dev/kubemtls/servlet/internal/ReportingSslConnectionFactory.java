package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.tls.TlsListener;
import javax.net.ssl.SSLEngine;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A server {@link SslConnectionFactory} whose connections report their handshakes to a
 * {@link TlsListener} (see {@link HandshakeReporter}). Not part of the public API.
 */
public final class ReportingSslConnectionFactory extends SslConnectionFactory {

  private final TlsListener listener;

  public ReportingSslConnectionFactory(SslContextFactory.Server factory, String nextProtocol,
      TlsListener listener) {
    super(factory, nextProtocol);
    this.listener = listener;
  }

  @Override
  protected SslConnection newSslConnection(Connector connector, EndPoint endPoint, SSLEngine engine) {
    return HandshakeReporter.attach(super.newSslConnection(connector, endPoint, engine),
        TlsListener.Side.SERVER, listener);
  }
}
