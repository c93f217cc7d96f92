package dev.kubemtls.netty.internal;

import dev.kubemtls.core.internal.PeerCertificateException;
import dev.kubemtls.core.internal.RefusalTranslatingTrustManager;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.handler.ssl.ReferenceCountedOpenSslEngine;
import io.netty.internal.tcnative.SSL;
import io.netty.internal.tcnative.SSLSession;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import javax.net.ssl.SSLEngine;
import io.netty.internal.tcnative.CertificateVerifier;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Wraps the trust manager of a BoringSSL context (refusals are reported by the peer check after the
 * handshake, on Netty and gRPC alike) and gives BoringSSL the verify error code of a refused
 * certificate. Netty hands the code of an {@link OpenSslCertificateException} to BoringSSL, which picks the alert from it; for any other
 * exception it falls back to {@code X509_V_ERR_UNSPECIFIED}, which BoringSSL sends as
 * {@code internal_error}. So a foreign CA or a self-signed certificate becomes {@code unknown_ca},
 * an expired one {@code certificate_expired}, and the rest {@code bad_certificate}. The original
 * {@link PeerCertificateException} stays the cause, for logs and listeners.
 */
final class NettyTrust extends RefusalTranslatingTrustManager {

  private final InstantSource clock;

  NettyTrust(X509ExtendedTrustManager delegate, InstantSource clock) {
    super(delegate);
    this.clock = clock;
  }

  /**
   * Ties the session being made to the accepted chain: BoringSSL resumes a session (and accepts a
   * ticket) only while it is inside its timeout, so the session's timeout, and with it the lifetime
   * of its TLS 1.3 tickets, is cut to the time left until the chain's earliest notAfter. A peer
   * that comes back after that makes a full handshake, in which an expired certificate is refused
   * with {@code certificate_expired}, instead of a resumption that the peer check refuses with a
   * bare close. BoringSSL reads the system clock for this.
   */
  @Override
  protected void accepted(X509Certificate[] chain, SSLEngine engine) {
    if (!(engine instanceof ReferenceCountedOpenSslEngine openSsl) || chain == null || chain.length == 0) {
      return;
    }
    Instant notAfter = Instant.MAX;
    for (X509Certificate c : chain) {
      Instant na = c.getNotAfter().toInstant();
      notAfter = na.isBefore(notAfter) ? na : notAfter;
    }
    long left = Math.max(1, Duration.between(clock.instant(), notAfter).getSeconds());
    long ssl = openSsl.sslPointer();
    if (ssl == 0) {
      return;
    }
    long session = SSL.getSession(ssl);
    if (session != 0 && left < SSLSession.getTimeout(session)) {
      SSLSession.setTimeout(session, left);
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
    if (e instanceof PeerCertificateException p) {
      return new OpenSslCertificateException(p.getMessage(), p, errorCode(p, chain));
    }
    return e;
  }
}
