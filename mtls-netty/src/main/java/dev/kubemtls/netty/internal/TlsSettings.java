package dev.kubemtls.netty.internal;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.internal.CheckedSslEngine;
import dev.kubemtls.core.internal.EngineWrappingSslContext;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.PeerValidity;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.internal.StrongSignatureKeyManager;
import dev.kubemtls.core.internal.VerifiedChains;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.OpenSslCertificateCompressionConfig;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Everything but the material that goes into one side's {@link SslContext}: the {@link TlsPolicy}
 * in Netty's terms for the resolved provider, ALPN, and where refused certificates are explained.
 * The JDK provider gets the policy's signature schemes and groups per engine ({@link #restrict});
 * BoringSSL gets the groups in the context and signs and verifies with its own list, and a BoringSSL
 * server offers its certificate only to clients that accept a signature without SHA-1
 * ({@link StrongSignatureKeyManager}). The peer policy is applied in the handshake, so a refused peer
 * gets an alert; sessions and tickets live no longer than the material's certificate, at most an hour.
 *
 * @param server   whether these are server settings
 * @param provider the resolved Netty provider
 * @param policy   protocols, suites, schemes, groups and client auth
 * @param alpn     application protocols in preference order, empty for none
 * @param log      the rate-limited log of refused peer certificates, shared by all generations
 * @param jdk      the policy in the JDK's terms
 * @param chains   peer chains verified under the current CAs, shared by all generations
 * @param peerPolicy the allow-list applied to a verified peer in the handshake, or null where the
 *                   integration applies it after the handshake (a gRPC server, in its interceptor)
 */
public record TlsSettings(boolean server, SslProvider provider, TlsPolicy policy, List<String> alpn,
    RateLimitedLog log, JdkTls jdk, VerifiedChains chains, PeerPolicy peerPolicy) {

  /**
   * No certificate compression (RFC 8879): Netty turns zlib on by default with BoringSSL, which
   * then deflates our chain in Java on every handshake and inflates the peer's, for a chain of a
   * few hundred bytes of mostly keys and signatures that hardly shrinks. An empty list offers none.
   */
  private static final OpenSslCertificateCompressionConfig NO_CERTIFICATE_COMPRESSION =
      OpenSslCertificateCompressionConfig.newBuilder().build();

  /** The groups BoringSSL offers; it has no X448. */
  private static final Set<String> BORINGSSL_GROUPS = Set.of("x25519", "secp256r1", "secp384r1", "secp521r1");

  public TlsSettings(boolean server, SslProvider provider, TlsPolicy policy, List<String> alpn,
      RateLimitedLog log) {
    this(server, provider, policy, alpn, log, new JdkTls(policy), VerifiedChains.withSystemClock(),
        PeerPolicy.anySpiffeId());
  }

  public TlsSettings(boolean server, SslProvider provider, TlsPolicy policy, List<String> alpn,
      RateLimitedLog log, VerifiedChains chains, PeerPolicy peerPolicy) {
    this(server, provider, policy, alpn, log, new JdkTls(policy), chains, peerPolicy);
  }

  public TlsSettings {
    Objects.requireNonNull(provider, "provider");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(log, "log");
    Objects.requireNonNull(jdk, "jdk");
    Objects.requireNonNull(chains, "chains");
    alpn = List.copyOf(alpn);
    if (provider != SslProvider.JDK && openSslGroups(policy).length == 0) {
      throw new IllegalArgumentException("none of the policy's named groups " + policy.namedGroups()
          + " is available with OpenSSL (BoringSSL offers " + BORINGSSL_GROUPS + ")");
    }
  }

  private static String[] openSslGroups(TlsPolicy policy) {
    return policy.namedGroups().stream().filter(BORINGSSL_GROUPS::contains).toArray(String[]::new);
  }

  /** Whether engines need {@link #restrict} (the JDK provider). */
  public boolean restrictsEngines() {
    return provider == SslProvider.JDK;
  }

  /** Applies the policy's signature schemes and groups to a JDK engine. */
  public void restrict(SSLEngine engine) {
    jdk.restrict(engine);
  }

  /** A builder with the key, chain and trust of {@code material} and these settings. */
  public SslContextBuilder builderFor(MtlsMaterial material) {
    TlsIdentity id = material.identity();
    SslContextBuilder b;
    if (server) {
      b = (provider == SslProvider.JDK
          ? SslContextBuilder.forServer(id.privateKey(), id.chain())
          : SslContextBuilder.forServer(KeyManagers.caching(new StrongSignatureKeyManager(id, log))))
          // An allow-list refuses every client without a certificate anyway: asking for one in the
          // handshake gives such a client an alert (certificate_required) instead of a bare close.
          .clientAuth(nettyClientAuth())
          // Servers check client certificates against the trust bundle only; no name check.
          .endpointIdentificationAlgorithm(null);
    } else {
      b = SslContextBuilder.forClient()
          .keyManager(id.privateKey(), id.chain())
          // The server must prove the DNS name or IP address we dialled (RFC 2818 / 6125 rules).
          .endpointIdentificationAlgorithm("HTTPS");
    }
    // Servers check no name; clients check the engine's peer host, which also gives SNI: what the
    // verified-chain cache keys on.
    X509ExtendedTrustManager trust = new MtlsTrustManager(material.trust(), server ? "server" : "client",
        peerPolicy, log, chains);
    if (provider != SslProvider.JDK) {
      trust = new NettyTrust(trust, chains.clock());
    }
    if (provider != SslProvider.JDK) {
      b.option(OpenSslContextOption.GROUPS, openSslGroups(policy));
      b.option(OpenSslContextOption.CERTIFICATE_COMPRESSION_ALGORITHMS, NO_CERTIFICATE_COMPRESSION);
    }
    b.sslProvider(provider)
        .sessionTimeout(PeerValidity.sessionSeconds(id.notAfter(), chains.clock().instant()))
        .trustManager(trust)
        .protocols(policy.protocols())
        .ciphers(policy.cipherSuites(), SupportedCipherSuiteFilter.INSTANCE);
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
    SslContext built = builderFor(material).build();
    if (provider != SslProvider.JDK || !(built instanceof JdkSslContext jdkContext)) {
      return built;
    }
    // The JDK provider: the same context, with every engine a CheckedSslEngine, which refuses a
    // session resumed after the peer's notAfter (by this handle's clock) before its first flight,
    // with a certificate_expired alert, and keeps a client from offering such a session. Netty's
    // own ALPN wrapper goes around it, so ALPN is unchanged.
    InstantSource clock = chains.clock();
    String side = server ? "server" : "client";
    EngineWrappingSslContext checked = new EngineWrappingSslContext(jdkContext.context(), engine -> {
      if (!server) {
        // What the builder's endpointIdentificationAlgorithm("HTTPS") gave the engine.
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        engine.setSSLParameters(parameters);
      }
      SSLSessionContext sessions = jdkContext.context().getClientSessionContext();
      return new CheckedSslEngine(engine, clock, side, null,
          server ? null : () -> PeerValidity.sweepExpiredWhenDue(sessions, clock.instant()));
    });
    ApplicationProtocolConfig apn = alpn.isEmpty() ? ApplicationProtocolConfig.DISABLED
        : new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, alpn);
    return new JdkSslContext(checked, !server, jdkContext.cipherSuites(), IdentityCipherSuiteFilter.INSTANCE,
        apn, server ? nettyClientAuth() : io.netty.handler.ssl.ClientAuth.NONE,
        policy.protocols().toArray(String[]::new), false);
  }

  private io.netty.handler.ssl.ClientAuth nettyClientAuth() {
    return policy.clientAuth() == ClientAuth.REQUIRE || (peerPolicy != null && peerPolicy.hasAllowList())
        ? io.netty.handler.ssl.ClientAuth.REQUIRE : io.netty.handler.ssl.ClientAuth.OPTIONAL;
  }
}
