package dev.kubemtls.core.internal;

import java.security.KeyManagementException;
import java.security.SecureRandom;
import java.util.Objects;
import java.util.function.UnaryOperator;
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
 * An initialized {@link SSLContext} whose engines are the delegate's, each passed through
 * {@code wrap} (for example into a {@link CheckedSslEngine}); sockets, session contexts and
 * parameters are the delegate's. For a TLS stack that takes an {@code SSLContext} and makes its
 * engines itself (Netty's {@code JdkSslContext}, which then adds its own ALPN wrapper around ours).
 */
public final class EngineWrappingSslContext extends SSLContext {

  public EngineWrappingSslContext(SSLContext delegate, UnaryOperator<SSLEngine> wrap) {
    super(new Spi(delegate, wrap), delegate.getProvider(), delegate.getProtocol());
  }

  private static final class Spi extends SSLContextSpi {
    private final SSLContext delegate;
    private final UnaryOperator<SSLEngine> wrap;

    Spi(SSLContext delegate, UnaryOperator<SSLEngine> wrap) {
      this.delegate = Objects.requireNonNull(delegate, "delegate");
      this.wrap = Objects.requireNonNull(wrap, "wrap");
    }

    @Override
    protected void engineInit(KeyManager[] km, TrustManager[] tm, SecureRandom sr) throws KeyManagementException {
      throw new KeyManagementException("this kube-mtls SSL context is initialized already");
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
      return wrap.apply(delegate.createSSLEngine());
    }

    @Override
    protected SSLEngine engineCreateSSLEngine(String host, int port) {
      return wrap.apply(delegate.createSSLEngine(host, port));
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
