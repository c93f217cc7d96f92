package dev.kubemtls.core.internal;

import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertPathValidatorException.BasicReason;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Turns the exception that ended a TLS handshake into a {@link HandshakeFailure}, for the JDK
 * provider (SunJSSE, also under Jetty) and for OpenSSL (BoringSSL through netty-tcnative).
 *
 * <p>Certificate checks run in the JDK trust manager with both providers, so their outcome is read
 * from the exception types in the cause chain. What the TLS stack itself decides (no certificate,
 * no shared cipher, an alert from the peer) is only available as a message: the JDK's own text, or
 * BoringSSL's reason code after the last colon ({@code error:...:OPENSSL_internal:NO_SHARED_CIPHER}).
 * Alerts carry the same names in both after normalizing BoringSSL's {@code SSLV3_ALERT_},
 * {@code TLSV1_ALERT_} and {@code TLSV13_ALERT_} prefixes.
 */
public final class HandshakeFailures {

  /** The most causes looked at; chains are short, this only stops cycles. */
  private static final int MAX_DEPTH = 16;

  private static final String JDK_ALERT = "Received fatal alert: ";

  private static final Map<String, HandshakeFailure> ALERTS = Map.ofEntries(
      Map.entry("bad_certificate", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("unsupported_certificate", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("certificate_revoked", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("certificate_expired", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("certificate_unknown", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("unknown_ca", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("access_denied", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("certificate_required", HandshakeFailure.REJECTED_BY_PEER),
      Map.entry("protocol_version", HandshakeFailure.PROTOCOL),
      Map.entry("insufficient_security", HandshakeFailure.PROTOCOL),
      Map.entry("no_application_protocol", HandshakeFailure.PROTOCOL));
  // handshake_failure is left out on purpose: servers send it for "no shared cipher" and BoringSSL
  // TLS 1.2 servers also for "no client certificate", so it says nothing reliable.

  private static final Set<String> OPENSSL_NO_CERTIFICATE = Set.of(
      "PEER_DID_NOT_RETURN_A_CERTIFICATE");

  private static final Set<String> OPENSSL_PROTOCOL = Set.of(
      // WRONG_CURVE: a TLS 1.2 client offers no group that the server's ECDSA key is on.
      "NO_SHARED_CIPHER", "UNSUPPORTED_PROTOCOL", "WRONG_VERSION_NUMBER", "NO_SHARED_GROUP", "WRONG_CURVE",
      "NO_COMMON_SIGNATURE_ALGORITHMS", "NO_CIPHERS_AVAILABLE", "NO_SUPPORTED_VERSIONS_ENABLED",
      "HTTP_REQUEST", "HTTPS_PROXY_REQUEST", "UNKNOWN_PROTOCOL", "NO_APPLICATION_PROTOCOL");

  private static final String[] JDK_NO_CERTIFICATE = {
      "Empty client certificate chain", "Empty server certificate chain"};

  private static final String[] JDK_PROTOCOL = {
      "no cipher suites in common",
      "No appropriate protocol",
      "Client requested protocol",
      "The client supported protocol versions",
      "The server selected protocol version",
      "Unsupported or unrecognized SSL message",
      "Unrecognized SSL message",
      "No supported signature algorithm",
      "No supported CertificateVerify signature algorithm",
      "No appropriate key share",
      "No common named group",
      // Netty's OpenSSL server when the key manager offers no certificate: kube-mtls' does so for a
      // client that accepts no signature without SHA-1 (StrongSignatureKeyManager).
      "Unable to find key material",
      // Netty's NotSslRecordException: plain text where a TLS record was expected.
      "not an SSL/TLS record"};

  /** The JDK's HostnameChecker, which both providers use for endpoint identification. */
  private static final String[] JDK_HOSTNAME = {
      "No subject alternative DNS name matching", "No subject alternative names matching IP address",
      "No subject alternative names present", "No name matching"};

  private HandshakeFailures() {}

  /** The class of {@code failure}; {@link HandshakeFailure#OTHER} when nothing reliable is known. */
  public static HandshakeFailure classify(Throwable failure) {
    HandshakeFailure fromCertificates = fromCertificateChecks(failure);
    if (fromCertificates != null) {
      return fromCertificates;
    }
    int depth = 0;
    for (Throwable t = failure; t != null && depth < MAX_DEPTH; t = t.getCause(), depth++) {
      HandshakeFailure fromMessage = fromMessage(t.getMessage());
      if (fromMessage != null) {
        return fromMessage;
      }
    }
    return HandshakeFailure.OTHER;
  }

  /**
   * Whether {@code failure} (or one of its causes) is SunJSSE's report of the peer's fatal alert
   * {@code alert} (its TLS name, e.g. {@code handshake_failure}).
   */
  public static boolean receivedAlert(Throwable failure, String alert) {
    String report = JDK_ALERT + alert;
    int depth = 0;
    for (Throwable t = failure; t != null && depth < MAX_DEPTH; t = t.getCause(), depth++) {
      if (t.getMessage() != null && t.getMessage().contains(report)) {
        return true;
      }
    }
    return false;
  }

  /** What this side's trust manager decided, if it threw. */
  private static HandshakeFailure fromCertificateChecks(Throwable failure) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < MAX_DEPTH; t = t.getCause(), depth++) {
      if (t instanceof PeerCertificateException p) {
        // Our own trust manager already said why.
        return switch (p.rejection()) {
          case EXPIRED, NOT_YET_VALID -> HandshakeFailure.EXPIRED_PEER_CERTIFICATE;
          case HOSTNAME_MISMATCH -> HandshakeFailure.HOSTNAME_MISMATCH;
          case NOT_ALLOWED -> HandshakeFailure.PEER_NOT_ALLOWED;
          case UNKNOWN_CA, BAD_CERTIFICATE -> HandshakeFailure.UNTRUSTED_PEER;
        };
      }
    }
    boolean untrusted = false;
    depth = 0;
    for (Throwable t = failure; t != null && depth < MAX_DEPTH; t = t.getCause(), depth++) {
      if (t instanceof CertificateExpiredException || t instanceof CertificateNotYetValidException) {
        return HandshakeFailure.EXPIRED_PEER_CERTIFICATE;
      }
      if (t instanceof CertPathValidatorException v && (v.getReason() == BasicReason.EXPIRED
          || v.getReason() == BasicReason.NOT_YET_VALID)) {
        return HandshakeFailure.EXPIRED_PEER_CERTIFICATE;
      }
      if (isHostnameMismatch(t)) {
        return HandshakeFailure.HOSTNAME_MISMATCH;
      }
      untrusted |= t instanceof CertificateException || t instanceof CertPathValidatorException
          || t instanceof CertPathBuilderException;
    }
    return untrusted ? HandshakeFailure.UNTRUSTED_PEER : null;
  }

  /** Whether {@code t} is the JDK's (and so both providers') endpoint-identification failure. */
  static boolean isHostnameMismatch(Throwable t) {
    return t.getClass() == CertificateException.class && startsWithAny(t.getMessage(), JDK_HOSTNAME);
  }

  private static HandshakeFailure fromMessage(String message) {
    if (message == null || message.isEmpty()) {
      return null;
    }
    if (message.startsWith(JDK_ALERT)) {
      return ALERTS.get(message.substring(JDK_ALERT.length()).trim());
    }
    if (startsWithAny(message, JDK_NO_CERTIFICATE)) {
      return HandshakeFailure.NO_PEER_CERTIFICATE;
    }
    if (startsWithAny(message, JDK_PROTOCOL)) {
      return HandshakeFailure.PROTOCOL;
    }
    if (message.startsWith("error:")) {
      String reason = message.substring(message.lastIndexOf(':') + 1).trim().toUpperCase(Locale.ROOT);
      if (OPENSSL_NO_CERTIFICATE.contains(reason)) {
        return HandshakeFailure.NO_PEER_CERTIFICATE;
      }
      if (OPENSSL_PROTOCOL.contains(reason)) {
        return HandshakeFailure.PROTOCOL;
      }
      String alert = openSslAlert(reason);
      return alert == null ? null : ALERTS.get(alert);
    }
    return null;
  }

  /** {@code SSLV3_ALERT_BAD_CERTIFICATE} → {@code bad_certificate}; null if not an alert. */
  private static String openSslAlert(String reason) {
    for (String prefix : new String[] {"SSLV3_ALERT_", "TLSV13_ALERT_", "TLSV1_ALERT_"}) {
      if (reason.startsWith(prefix)) {
        return reason.substring(prefix.length()).toLowerCase(Locale.ROOT);
      }
    }
    return null;
  }

  private static boolean startsWithAny(String message, String[] prefixes) {
    if (message == null) {
      return false;
    }
    for (String p : prefixes) {
      if (message.startsWith(p)) {
        return true;
      }
    }
    return false;
  }
}
