package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.internal.HandshakeFailures;
import dev.kubemtls.core.internal.PeerCertificateException;
import dev.kubemtls.core.internal.RefusalTranslatingTrustManager;
import dev.kubemtls.core.tls.TlsListener;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.internal.tcnative.CertificateVerifier;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Wraps the trust manager of one context: tells the {@link TlsListener} of each certificate it
 * refuses, and, with BoringSSL, turns a {@link PeerCertificateException} into an
 * {@link OpenSslCertificateException} with the matching verify error, so that the peer gets
 * {@code unknown_ca}, {@code certificate_expired} or {@code bad_certificate} rather than
 * {@code internal_error} (the same mapping as mtls-netty's).
 */
final class ReportingTrust extends RefusalTranslatingTrustManager {

  private final boolean openSsl;
  private final TlsListener.Side side;
  private final TlsListener listener;
  private final java.time.InstantSource clock;

  ReportingTrust(X509ExtendedTrustManager delegate, boolean openSsl, TlsListener.Side side,
      TlsListener listener, java.time.InstantSource clock) {
    super(delegate);
    this.openSsl = openSsl;
    this.side = side;
    this.listener = listener;
    this.clock = clock;
  }

  /**
   * With BoringSSL, cuts the new session's timeout (and its tickets' lifetime) to the time left
   * until the accepted chain's earliest notAfter, as mtls-netty does: a peer whose session outlives
   * its certificate then makes a full handshake and gets {@code certificate_expired}. BoringSSL
   * reads the system clock for this.
   */
  @Override
  protected void accepted(X509Certificate[] chain, javax.net.ssl.SSLEngine engine) {
    if (!(engine instanceof io.netty.handler.ssl.ReferenceCountedOpenSslEngine openSslEngine)
        || chain == null || chain.length == 0) {
      return;
    }
    java.time.Instant notAfter = java.time.Instant.MAX;
    for (X509Certificate c : chain) {
      java.time.Instant na = c.getNotAfter().toInstant();
      notAfter = na.isBefore(notAfter) ? na : notAfter;
    }
    long left = Math.max(1, Duration.between(clock.instant(), notAfter).getSeconds());
    long ssl = openSslEngine.sslPointer();
    if (ssl == 0) {
      return;
    }
    long session = io.netty.internal.tcnative.SSL.getSession(ssl);
    if (session != 0 && left < io.netty.internal.tcnative.SSLSession.getTimeout(session)) {
      io.netty.internal.tcnative.SSLSession.setTimeout(session, left);
    }
  }

  static int errorCode(PeerCertificateException e, X509Certificate[] chain) {
    return switch (e.rejection()) {
      case UNKNOWN_CA -> chain != null && chain.length == 1
          && chain[0].getSubjectX500Principal().equals(chain[0].getIssuerX500Principal())
          ? CertificateVerifier.X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
          : CertificateVerifier.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
      case EXPIRED -> CertificateVerifier.X509_V_ERR_CERT_HAS_EXPIRED;
      case NOT_YET_VALID -> CertificateVerifier.X509_V_ERR_CERT_NOT_YET_VALID;
      case HOSTNAME_MISMATCH -> CertificateVerifier.X509_V_ERR_HOSTNAME_MISMATCH;
      case BAD_CERTIFICATE, NOT_ALLOWED -> CertificateVerifier.X509_V_ERR_CERT_REJECTED;
    };
  }

  @Override
  protected CertificateException refused(CertificateException e, X509Certificate[] chain) {
    if (listener != TlsListener.NO_OP) {
      listener.handshakeFailed(side, HandshakeFailures.classify(e), e, Duration.ZERO);
    }
    if (openSsl && e instanceof PeerCertificateException p) {
      return new OpenSslCertificateException(p.getMessage(), p, errorCode(p, chain));
    }
    return e;
  }
}
