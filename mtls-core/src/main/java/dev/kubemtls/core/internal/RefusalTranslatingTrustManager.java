package dev.kubemtls.core.internal;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A trust manager that decides nothing itself: each of the six checks goes to the delegate, and a
 * refusal is passed through {@link #refused} before it is thrown (an integration reports it, or
 * turns it into the exception its TLS stack maps to an alert). Accepted issuers are the delegate's.
 */
public abstract class RefusalTranslatingTrustManager extends X509ExtendedTrustManager {

  private final X509ExtendedTrustManager delegate;

  protected RefusalTranslatingTrustManager(X509ExtendedTrustManager delegate) {
    this.delegate = delegate;
  }

  /** What to throw for the delegate's refusal {@code e} of {@code chain}; may be {@code e} itself. */
  protected abstract CertificateException refused(CertificateException e, X509Certificate[] chain);

  /**
   * Called after the delegate accepted {@code chain} in a handshake on {@code engine}; nothing by
   * default. An integration may tie the new session to the chain here (its lifetime, say).
   */
  protected void accepted(X509Certificate[] chain, SSLEngine engine) {
  }

  private interface Check {
    void run() throws CertificateException;
  }

  private void check(Check check, X509Certificate[] chain) throws CertificateException {
    try {
      check.run();
    } catch (CertificateException e) {
      throw refused(e, chain);
    }
  }

  @Override
  public final void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    check(() -> delegate.checkClientTrusted(chain, authType, socket), chain);
  }

  @Override
  public final void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    check(() -> delegate.checkServerTrusted(chain, authType, socket), chain);
  }

  @Override
  public final void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    check(() -> delegate.checkClientTrusted(chain, authType, engine), chain);
    accepted(chain, engine);
  }

  @Override
  public final void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    check(() -> delegate.checkServerTrusted(chain, authType, engine), chain);
    accepted(chain, engine);
  }

  @Override
  public final void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    check(() -> delegate.checkClientTrusted(chain, authType), chain);
  }

  @Override
  public final void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    check(() -> delegate.checkServerTrusted(chain, authType), chain);
  }

  @Override
  public final X509Certificate[] getAcceptedIssuers() {
    return delegate.getAcceptedIssuers();
  }
}
