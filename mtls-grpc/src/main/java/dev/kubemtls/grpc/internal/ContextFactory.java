package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Turns one material snapshot into one Netty {@link SslContext} for gRPC: the snapshot's key, chain
 * and trust bundle, the {@link TlsPolicy} in Netty's terms for the resolved provider, and ALPN
 * {@code h2} (gRPC refuses a context without it).
 *
 * <p>Servers check client certificates against the bundle only and leave the {@link PeerPolicy} to
 * the call interceptor, so that a refused caller gets a gRPC status with the reason; clients check
 * the server's name as dialled and, in the handshake, the policy (a server outside it never sees a
 * request).
 */
public final class ContextFactory {

  /** The groups BoringSSL offers; it has no X448. */
  private static final Set<String> BORINGSSL_GROUPS = Set.of("x25519", "secp256r1", "secp384r1", "secp521r1");

  /** The ALPN protocol of gRPC. */
  public static final List<String> H2 = List.of("h2");

  private final boolean server;
  private final SslProvider provider;
  private final TlsPolicy policy;
  private final PeerPolicy clientPeerPolicy;
  private final RateLimitedLog log;
  private final TlsListener listener;
  private final JdkTls jdk;
  private final dev.kubemtls.core.internal.VerifiedChains chains;

  /**
   * @param clientPeerPolicy on a client the policy applied to the server in the handshake; ignored
   *                         on a server
   */
  public ContextFactory(boolean server, SslProvider provider, TlsPolicy policy, PeerPolicy clientPeerPolicy,
      RateLimitedLog log, TlsListener listener) {
    this(server, provider, policy, clientPeerPolicy, log, listener,
        dev.kubemtls.core.internal.VerifiedChains.withSystemClock());
  }

  /**
   * @param chains peer chains verified under the current CAs, shared by all generations; its clock
   *               is what validity is checked against in every full handshake and what session
   *               lifetimes are computed from
   */
  public ContextFactory(boolean server, SslProvider provider, TlsPolicy policy, PeerPolicy clientPeerPolicy,
      RateLimitedLog log, TlsListener listener, dev.kubemtls.core.internal.VerifiedChains chains) {
    this.chains = Objects.requireNonNull(chains, "chains");
    this.server = server;
    this.provider = Objects.requireNonNull(provider, "provider");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.clientPeerPolicy = Objects.requireNonNull(clientPeerPolicy, "peerPolicy");
    this.log = Objects.requireNonNull(log, "log");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.jdk = new JdkTls(policy);
    if (provider != SslProvider.JDK && openSslGroups().length == 0) {
      throw new IllegalArgumentException("none of the policy's named groups " + policy.namedGroups()
          + " is available with OpenSSL (BoringSSL offers " + BORINGSSL_GROUPS + ")");
    }
  }

  public boolean server() {
    return server;
  }

  public SslProvider provider() {
    return provider;
  }

  private String[] openSslGroups() {
    return policy.namedGroups().stream().filter(BORINGSSL_GROUPS::contains).toArray(String[]::new);
  }

  /** Applies the policy's signature schemes and groups to a JDK engine; a no-op for OpenSSL. */
  public void restrict(SSLEngine engine) {
    if (provider == SslProvider.JDK) {
      jdk.restrict(engine);
    }
  }

  /**
   * Before a JDK client makes an engine: drops the cached sessions whose server certificate is
   * outside its validity window by the injected clock, since SunJSSE resumes a session without
   * looking at it. (The engine itself cannot be wrapped to check on completion: Netty reads ALPN,
   * which gRPC needs, only from its own engine classes. A server checks every call in its
   * interceptor instead.) The client cache holds a session per server address, so this is short.
   */
  public void dropExpiredSessions(javax.net.ssl.SSLSessionContext sessions) {
    if (provider != SslProvider.JDK || server || sessions == null) {
      return;
    }
    java.time.Instant now = chains.clock().instant();
    for (java.util.Enumeration<byte[]> ids = sessions.getIds(); ids.hasMoreElements(); ) {
      javax.net.ssl.SSLSession s = sessions.getSession(ids.nextElement());
      if (s == null) {
        continue;
      }
      try {
        dev.kubemtls.core.internal.PeerValidity.check(s.getPeerCertificates(), now);
      } catch (java.security.cert.CertificateException | javax.net.ssl.SSLPeerUnverifiedException e) {
        s.invalidate();
      }
    }
  }



  /**
   * A context for {@code material}.
   *
   * @throws dev.kubemtls.core.InvalidMaterialException if {@link MtlsMaterial#validate()} refuses it
   */
  public SslContext newContext(MtlsMaterial material) throws SSLException {
    material.validate();
    TlsIdentity id = material.identity();
    SslContextBuilder b;
    if (server) {
      // BoringSSL: the certificate only for clients that accept a signature without SHA-1.
      b = (provider == SslProvider.JDK
          ? SslContextBuilder.forServer(id.privateKey(), id.chain())
          : SslContextBuilder.forServer(KeyManagers.caching(
              new dev.kubemtls.core.internal.StrongSignatureKeyManager(id, log))))
          .clientAuth(policy.clientAuth() == ClientAuth.REQUIRE
              ? io.netty.handler.ssl.ClientAuth.REQUIRE : io.netty.handler.ssl.ClientAuth.OPTIONAL)
          .endpointIdentificationAlgorithm(null);
    } else {
      b = SslContextBuilder.forClient()
          .keyManager(id.privateKey(), id.chain())
          // The server must prove the DNS name or IP address dialled (grpc also sets this per engine).
          .endpointIdentificationAlgorithm("HTTPS");
    }
    X509ExtendedTrustManager trust = new MtlsTrustManager(material.trust(), server ? "server" : "client",
        server ? null : clientPeerPolicy, log, chains);
    trust = new ReportingTrust(trust, provider != SslProvider.JDK,
        server ? TlsListener.Side.SERVER : TlsListener.Side.CLIENT, listener, chains.clock());
    if (provider != SslProvider.JDK) {
      b.option(OpenSslContextOption.GROUPS, openSslGroups());
    }
    b.sslProvider(provider)
        .sessionTimeout(dev.kubemtls.core.internal.PeerValidity.sessionSeconds(id.notAfter(), chains.clock().instant()))
        .trustManager(trust)
        .protocols(policy.protocols())
        .ciphers(policy.cipherSuites(), SupportedCipherSuiteFilter.INSTANCE)
        .applicationProtocolConfig(new ApplicationProtocolConfig(
            ApplicationProtocolConfig.Protocol.ALPN,
            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
            H2));
    SslContext context = b.build();
    if (!server && provider != SslProvider.JDK
        && context.sessionContext() instanceof io.netty.handler.ssl.OpenSslSessionContext sessions) {
      // No session cache on an OpenSSL channel, so every connection makes a full handshake in which
      // the trust manager checks the server's validity: a resumed BoringSSL session has no hook
      // where that check could run, and Netty's client cache cannot say whose certificate a session
      // holds. gRPC channels keep their connections and reconnect rarely.
      sessions.setSessionCacheEnabled(false);
    }
    return context;
  }
}
