package dev.kubemtls.netty.internal;

import dev.kubemtls.core.internal.PeerCertificateException;
import dev.kubemtls.core.internal.RefusalTranslatingTrustManager;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.internal.tcnative.CertificateVerifier;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Gives BoringSSL the verify error code of a refused certificate. Netty hands the code of an
 * {@link OpenSslCertificateException} to BoringSSL, which picks the alert from it; for any other
 * exception it falls back to {@code X509_V_ERR_UNSPECIFIED}, which BoringSSL sends as
 * {@code internal_error}. So a foreign CA or a self-signed certificate becomes {@code unknown_ca},
 * an expired one {@code certificate_expired}, and the rest {@code bad_certificate}. The original
 * {@link PeerCertificateException} stays the cause, for logs and listeners.
 */
final class OpenSslTrust extends RefusalTranslatingTrustManager {

  OpenSslTrust(X509ExtendedTrustManager delegate) {
    super(delegate);
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
