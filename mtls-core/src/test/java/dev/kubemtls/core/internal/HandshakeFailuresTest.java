package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The messages the TLS stacks put on what they decide themselves, as seen from the JDK 17 provider
 * and from BoringSSL through netty-tcnative 2.0.84. The Netty and servlet tests provoke each class
 * with real handshakes; this table pins the parsing.
 */
class HandshakeFailuresTest {

  @ParameterizedTest
  @CsvSource(delimiter = '|', textBlock = """
      Empty client certificate chain                                                        | NO_PEER_CERTIFICATE
      error:100000c0:SSL routines:OPENSSL_internal:PEER_DID_NOT_RETURN_A_CERTIFICATE         | NO_PEER_CERTIFICATE
      Received fatal alert: certificate_unknown                                             | REJECTED_BY_PEER
      Received fatal alert: bad_certificate                                                 | REJECTED_BY_PEER
      error:10000412:SSL routines:OPENSSL_internal:SSLV3_ALERT_BAD_CERTIFICATE               | REJECTED_BY_PEER
      error:1000045c:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED          | REJECTED_BY_PEER
      error:10000418:SSL routines:OPENSSL_internal:TLSV1_ALERT_UNKNOWN_CA                    | REJECTED_BY_PEER
      no cipher suites in common                                                            | PROTOCOL
      error:100000b8:SSL routines:OPENSSL_internal:NO_SHARED_CIPHER                          | PROTOCOL
      error:100000f3:SSL routines:OPENSSL_internal:WRONG_CURVE                               | PROTOCOL
      Received fatal alert: protocol_version                                                | PROTOCOL
      error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION              | PROTOCOL
      not an SSL/TLS record: 474554202f                                                     | PROTOCOL
      Received fatal alert: handshake_failure                                               | OTHER
      error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE             | OTHER
      Connection closed while SSL/TLS handshake was in progress                             | OTHER
      """)
  void messagesOfTheTlsStacks(String message, HandshakeFailure expected) {
    assertThat(HandshakeFailures.classify(new SSLHandshakeException(message))).isEqualTo(expected);
    // The same message one level down, as Netty's DecoderException wraps it.
    assertThat(HandshakeFailures.classify(new RuntimeException(new SSLException(message))))
        .isEqualTo(expected);
  }

  @Test
  void trustManagerOutcomesAreReadFromTheCauseChain() {
    SSLHandshakeException expired = new SSLHandshakeException("General OpenSslEngine problem");
    expired.initCause(new CertificateException("PKIX path validation failed",
        new CertPathValidatorException("validity check failed", new CertificateExpiredException("NotAfter"),
            null, -1, CertPathValidatorException.BasicReason.EXPIRED)));
    assertThat(HandshakeFailures.classify(expired)).isEqualTo(HandshakeFailure.EXPIRED_PEER_CERTIFICATE);

    SSLHandshakeException untrusted = new SSLHandshakeException("PKIX path validation failed");
    untrusted.initCause(new CertificateException("PKIX path validation failed",
        new CertPathValidatorException("Path does not chain with any of the trust anchors", null, null,
            -1, CertPathValidatorException.BasicReason.UNSPECIFIED)));
    assertThat(HandshakeFailures.classify(untrusted)).isEqualTo(HandshakeFailure.UNTRUSTED_PEER);

    SSLHandshakeException hostname = new SSLHandshakeException("General OpenSslEngine problem");
    hostname.initCause(new CertificateException("No subject alternative DNS name matching a.svc found."));
    assertThat(HandshakeFailures.classify(hostname)).isEqualTo(HandshakeFailure.HOSTNAME_MISMATCH);

    assertThat(HandshakeFailures.classify(null)).isEqualTo(HandshakeFailure.OTHER);
  }

  @Test
  void aReceivedAlertIsFoundByItsNameAnywhereInTheCauseChain() {
    SSLHandshakeException alert = new SSLHandshakeException("Received fatal alert: handshake_failure");
    assertThat(HandshakeFailures.receivedAlert(alert, "handshake_failure")).isTrue();
    assertThat(HandshakeFailures.receivedAlert(new SSLException("wrapped", alert), "handshake_failure")).isTrue();
    assertThat(HandshakeFailures.receivedAlert(alert, "unknown_ca")).isFalse();
    // This side's own failure of that name is no alert received from the peer.
    assertThat(HandshakeFailures.receivedAlert(new SSLHandshakeException("handshake_failure"), "handshake_failure")).isFalse();
    assertThat(HandshakeFailures.receivedAlert(new SSLException((String) null), "handshake_failure")).isFalse();
  }
}
