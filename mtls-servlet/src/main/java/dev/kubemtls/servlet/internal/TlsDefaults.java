package dev.kubemtls.servlet.internal;

import java.util.List;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * The protocol versions and cipher suites every kube-mtls endpoint offers: TLS 1.3 first, TLS 1.2
 * as the minimum, and only ephemeral key exchange with AEAD ciphers. Not part of the public API.
 */
public final class TlsDefaults {

  /** Protocol versions, most preferred first. */
  public static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

  /** Cipher suites in preference order: TLS 1.3 suites, then ECDHE with AES-GCM or ChaCha20. */
  public static final List<String> CIPHER_SUITES = List.of(
      "TLS_AES_256_GCM_SHA384",
      "TLS_AES_128_GCM_SHA256",
      "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

  private TlsDefaults() {}

  /** Applies the protocol and cipher policy, and turns off renegotiation. */
  public static void apply(SslContextFactory factory) {
    factory.setIncludeProtocols(PROTOCOLS.toArray(String[]::new));
    factory.setIncludeCipherSuites(CIPHER_SUITES.toArray(String[]::new));
    factory.setUseCipherSuitesOrder(true);
    factory.setRenegotiationAllowed(false);
  }
}
