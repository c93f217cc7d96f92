package dev.kubemtls.netty.internal;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.netty.ClientAuthMode;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.SSLException;

/**
 * Everything but the material that goes into one side's {@link SslContext}: TLS 1.3 preferred,
 * TLS 1.2 the minimum, AEAD suites with forward secrecy only.
 *
 * @param server      whether these are server settings
 * @param provider    the resolved Netty provider
 * @param clientAuth  the server's client-certificate demand (ignored for clients)
 * @param alpn        application protocols in preference order, empty for none
 */
public record TlsSettings(boolean server, SslProvider provider, ClientAuthMode clientAuth, List<String> alpn) {

  /** The protocol versions offered, newest first. */
  public static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

  /**
   * The cipher suites offered: the TLS 1.3 suites, then ECDHE with AES-GCM or ChaCha20-Poly1305 for
   * TLS 1.2. No CBC, no RSA key exchange, no SHA-1 MACs.
   */
  public static final List<String> CIPHERS = List.of(
      "TLS_AES_128_GCM_SHA256",
      "TLS_AES_256_GCM_SHA384",
      "TLS_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

  public TlsSettings {
    Objects.requireNonNull(provider, "provider");
    Objects.requireNonNull(clientAuth, "clientAuth");
    alpn = List.copyOf(alpn);
  }

  /** A builder with the key, chain and trust of {@code material} and these settings. */
  public SslContextBuilder builderFor(MtlsMaterial material) {
    TlsIdentity id = material.identity();
    SslContextBuilder b;
    if (server) {
      b = SslContextBuilder.forServer(id.privateKey(), id.chain())
          .clientAuth(clientAuth == ClientAuthMode.REQUIRE ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL)
          // Servers check client certificates against the trust bundle only; no name check.
          .endpointIdentificationAlgorithm(null);
    } else {
      b = SslContextBuilder.forClient()
          .keyManager(id.privateKey(), id.chain())
          // The server must prove the DNS name or IP address we dialled (RFC 2818 / 6125 rules).
          .endpointIdentificationAlgorithm("HTTPS");
    }
    b.sslProvider(provider)
        .trustManager(material.trust().trustManager())
        .protocols(PROTOCOLS)
        .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE);
    if (!alpn.isEmpty()) {
      b.applicationProtocolConfig(new ApplicationProtocolConfig(
          ApplicationProtocolConfig.Protocol.ALPN,
          ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
          ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
          alpn));
    }
    return b;
  }

  /**
   * A context for {@code material}.
   *
   * @throws dev.kubemtls.core.InvalidMaterialException if {@link MtlsMaterial#validate()} refuses
   *     the material (not every provider checks that the key belongs to the certificate itself)
   */
  public SslContext newContext(MtlsMaterial material) throws SSLException {
    material.validate();
    return builderFor(material).build();
  }
}
