package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsPolicy;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.LoggerFactory;

/**
 * What the server and client factories share: a {@link TlsPolicy} in a Jetty
 * {@link SslContextFactory}, and the JDK context that follows a source, checked by the shared trust
 * manager. Not part of the public API.
 */
final class Policies {

  private Policies() {}

  /** Protocols and suites in the policy's order (the server's order wins); no renegotiation. */
  static void apply(SslContextFactory factory, TlsPolicy policy) {
    factory.setIncludeProtocols(policy.protocols().toArray(String[]::new));
    factory.setIncludeCipherSuites(policy.cipherSuites().toArray(String[]::new));
    factory.setUseCipherSuitesOrder(true);
    factory.setRenegotiationAllowed(false);
  }

  /**
   * The JDK context for one side ({@code "server"} or {@code "client"}), whose trust manager checks
   * the peer against the bundle and {@code peerPolicy} and logs refusals as {@code owner}.
   */
  static FollowingSslContextSpi followingContext(MaterialSource source, JdkTls tls, PeerPolicy peerPolicy,
      String side, Class<?> owner, java.time.InstantSource clock) {
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(owner), System::nanoTime);
    // Engines check the peer's validity by this clock when their handshake completes, resumed or not.
    return new FollowingSslContextSpi(source, tls, side, m -> new MtlsTrustManager(m.trust(), side, peerPolicy, log),
        clock);
  }
}
