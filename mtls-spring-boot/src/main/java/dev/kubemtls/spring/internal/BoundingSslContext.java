package dev.kubemtls.spring.internal;

import dev.kubemtls.core.internal.EndingSslEngine;
import java.security.KeyManagementException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.Objects;
import java.util.function.Supplier;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLContextSpi;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;

/**
 * The bundle's {@code createSslContext()}: the kube-mtls context, whose client engines end their
 * connection when a request starts on it after a response (a reuse) and the
 * {@link ClientConnectionBound} says it has outlived its material ({@link EndingSslEngine}); the
 * first request of a connection always goes out. For clients with no pool hook, the JDK {@code HttpClient}
 * first: it retries a request whose pooled connection ended before any response on a new
 * connection. Server engines and sockets (Apache HttpClient's, bounded by its pool instead) are the
 * delegate's. Without a bound (the starter's client bounds off) everything is the delegate's.
 */
final class BoundingSslContext extends SSLContext {

  BoundingSslContext(SSLContext delegate, Supplier<ClientConnectionBound> bound) {
    super(new Spi(delegate, bound), delegate.getProvider(), delegate.getProtocol());
  }

  private static final class Spi extends SSLContextSpi {
    private final SSLContext delegate;
    private final Supplier<ClientConnectionBound> bound;

    Spi(SSLContext delegate, Supplier<ClientConnectionBound> bound) {
      this.delegate = Objects.requireNonNull(delegate, "delegate");
      this.bound = Objects.requireNonNull(bound, "bound");
    }

    private SSLEngine bounded(SSLEngine engine) {
      ClientConnectionBound b = bound.get();
      if (b == null) {
        return engine;
      }
      Instant madeAt = b.now();
      // Asked only when a request starts on a connection that has carried a response (a reuse).
      return new EndingSslEngine(engine, e -> e.getUseClientMode() ? b.ended(e.getSession(), madeAt) : null, true);
    }

    @Override
    protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) throws KeyManagementException {
      throw new KeyManagementException("the kube-mtls SSL context is initialized already");
    }

    @Override
    protected SSLSocketFactory engineGetSocketFactory() {
      return delegate.getSocketFactory();
    }

    @Override
    protected SSLServerSocketFactory engineGetServerSocketFactory() {
      return delegate.getServerSocketFactory();
    }

    @Override
    protected SSLEngine engineCreateSSLEngine() {
      return bounded(delegate.createSSLEngine());
    }

    @Override
    protected SSLEngine engineCreateSSLEngine(String host, int port) {
      return bounded(delegate.createSSLEngine(host, port));
    }

    @Override
    protected SSLSessionContext engineGetServerSessionContext() {
      return delegate.getServerSessionContext();
    }

    @Override
    protected SSLSessionContext engineGetClientSessionContext() {
      return delegate.getClientSessionContext();
    }

    @Override
    protected SSLParameters engineGetDefaultSSLParameters() {
      return delegate.getDefaultSSLParameters();
    }

    @Override
    protected SSLParameters engineGetSupportedSSLParameters() {
      return delegate.getSupportedSSLParameters();
    }
  }
}
