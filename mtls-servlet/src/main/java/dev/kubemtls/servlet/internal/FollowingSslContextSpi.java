package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.security.KeyManagementException;
import java.security.SecureRandom;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine of an {@link SSLContext} that follows a {@link MaterialSource}: every new engine or
 * socket comes from a JDK context built for the source's current snapshot. A snapshot gets its own
 * context, so TLS sessions cached under an older identity or bundle are never resumed after a
 * change, as with Jetty's reload. Material that fails validation is logged and the last good
 * context stays. Not part of the public API.
 */
public final class FollowingSslContextSpi extends SSLContextSpi {

  private static final Logger LOG = LoggerFactory.getLogger(FollowingSslContextSpi.class);

  private final MaterialSource source;
  private volatile Built current;
  private volatile long refusedGeneration;

  private record Built(MtlsMaterial material, SSLContext context) {}

  /** Builds the context of the current snapshot now, so that bad material fails here. */
  public FollowingSslContextSpi(MaterialSource source) {
    this.source = Objects.requireNonNull(source, "source");
    this.current = build(source.current());
  }

  /** The JDK context of the current snapshot (or of the last good one). */
  public SSLContext context() {
    MtlsMaterial material = source.current();
    Built built = current;
    if (built.material() == material || material.generation() <= built.material().generation()
        || material.generation() == refusedGeneration) {
      return built.context();
    }
    synchronized (this) {
      built = current;
      if (material.generation() > built.material().generation() && material.generation() != refusedGeneration) {
        try {
          built = build(material);
          current = built;
          LOG.info("TLS context switched to {}, trust {}", material.identity(), material.trust().sourceVersion());
        } catch (RuntimeException e) {
          refusedGeneration = material.generation();
          LOG.error("TLS context refused material generation {}; keeping generation {}: {}",
              material.generation(), built.material().generation(), e.getMessage());
        }
      }
      return built.context();
    }
  }

  private static Built build(MtlsMaterial material) {
    return new Built(material, MaterialStores.of(material).newSslContext());
  }

  @Override
  protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) throws KeyManagementException {
    throw new KeyManagementException("this SSLContext takes its keys and trust from a kube-mtls"
        + " MaterialSource and cannot be initialized again");
  }

  @Override
  protected SSLSocketFactory engineGetSocketFactory() {
    return new FollowingSocketFactory();
  }

  /** Server sockets are long-lived: one made here keeps the snapshot it was made with. */
  @Override
  protected SSLServerSocketFactory engineGetServerSocketFactory() {
    return context().getServerSocketFactory();
  }

  @Override
  protected SSLEngine engineCreateSSLEngine() {
    return context().createSSLEngine();
  }

  @Override
  protected SSLEngine engineCreateSSLEngine(String host, int port) {
    return context().createSSLEngine(host, port);
  }

  @Override
  protected SSLSessionContext engineGetServerSessionContext() {
    return context().getServerSessionContext();
  }

  @Override
  protected SSLSessionContext engineGetClientSessionContext() {
    return context().getClientSessionContext();
  }

  @Override
  protected SSLParameters engineGetDefaultSSLParameters() {
    return context().getDefaultSSLParameters();
  }

  @Override
  protected SSLParameters engineGetSupportedSSLParameters() {
    return context().getSupportedSSLParameters();
  }

  /** Takes each new socket from the current snapshot's context. */
  private final class FollowingSocketFactory extends SSLSocketFactory {
    private SSLSocketFactory delegate() {
      return context().getSocketFactory();
    }

    @Override
    public String[] getDefaultCipherSuites() {
      return delegate().getDefaultCipherSuites();
    }

    @Override
    public String[] getSupportedCipherSuites() {
      return delegate().getSupportedCipherSuites();
    }

    @Override
    public Socket createSocket() throws IOException {
      return delegate().createSocket();
    }

    @Override
    public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
      return delegate().createSocket(s, host, port, autoClose);
    }

    @Override
    public Socket createSocket(Socket s, InputStream consumed, boolean autoClose) throws IOException {
      return delegate().createSocket(s, consumed, autoClose);
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
      return delegate().createSocket(host, port);
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
      return delegate().createSocket(host, port, localHost, localPort);
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
      return delegate().createSocket(host, port);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
        throws IOException {
      return delegate().createSocket(address, port, localAddress, localPort);
    }
  }
}
