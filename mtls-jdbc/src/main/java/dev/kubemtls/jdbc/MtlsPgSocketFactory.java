package dev.kubemtls.jdbc;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.util.Properties;
import javax.net.ssl.SSLSocketFactory;

/**
 * The pgjdbc {@code sslfactory} of kube-mtls: {@code sslfactory=dev.kubemtls.jdbc.MtlsPgSocketFactory}
 * with {@code sslmode=verify-full} and {@code kubemtlsSource=<name>}. pgjdbc makes one per connection
 * with the connection's properties; it takes the client registered under that name with
 * {@link MtlsPostgres#register} and layers TLS from that client's current snapshot over pgjdbc's
 * socket. See {@link MtlsPostgres}.
 */
public final class MtlsPgSocketFactory extends SSLSocketFactory {

  private final MtlsPostgres.Registration registration;
  private final SSLSocketFactory delegate;

  /**
   * Called by pgjdbc with the connection's properties.
   *
   * @throws IllegalArgumentException if they name no source
   * @throws IllegalStateException    if the source named is not registered
   */
  public MtlsPgSocketFactory(Properties info) {
    this.registration = MtlsPostgres.require(info);
    this.delegate = registration.tls().socketFactory();
  }

  private Socket tracked(Socket socket) {
    registration.track(socket);
    return socket;
  }

  @Override
  public String[] getDefaultCipherSuites() {
    return delegate.getDefaultCipherSuites();
  }

  @Override
  public String[] getSupportedCipherSuites() {
    return delegate.getSupportedCipherSuites();
  }

  @Override
  public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
    return tracked(delegate.createSocket(s, host, port, autoClose));
  }

  @Override
  public Socket createSocket(Socket s, InputStream consumed, boolean autoClose) throws IOException {
    return tracked(delegate.createSocket(s, consumed, autoClose));
  }

  @Override
  public Socket createSocket() throws IOException {
    return tracked(delegate.createSocket());
  }

  @Override
  public Socket createSocket(String host, int port) throws IOException {
    return tracked(delegate.createSocket(host, port));
  }

  @Override
  public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
    return tracked(delegate.createSocket(host, port, localHost, localPort));
  }

  @Override
  public Socket createSocket(InetAddress host, int port) throws IOException {
    return tracked(delegate.createSocket(host, port));
  }

  @Override
  public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
      throws IOException {
    return tracked(delegate.createSocket(address, port, localAddress, localPort));
  }
}
