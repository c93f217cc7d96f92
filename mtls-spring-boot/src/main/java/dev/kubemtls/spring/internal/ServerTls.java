package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.util.Objects;
import javax.net.ssl.SSLContext;
import org.springframework.boot.web.server.AbstractConfigurableWebServerFactory;
import org.springframework.boot.web.server.Ssl;
import org.springframework.boot.web.server.WebServerFactory;

/**
 * What every web server under the starter serves TLS with, Tomcat, Reactor Netty and Jetty alike:
 * the JDK context of an {@link MtlsJdkTls} server over the source, under the application's
 * {@link TlsPolicy} (protocols, suites, signature schemes, groups) with the client-certificate demand
 * of {@code server.ssl.client-auth}, and the kube-mtls trust manager. Its engines report each
 * handshake to the application's {@link TlsListener}s (succeeded, or failed with its class), as the
 * Jetty connector does. Callers are checked against
 * {@code kube-mtls.peer.*} per request by the kube-mtls filter (403 with the reason), on every server
 * the same way, so the handshake allows any caller whose certificate chains to the trust bundle.
 *
 * <p>Spring Boot would build Tomcat's and Reactor Netty's TLS from the bundle's key stores and
 * options, which carry neither the policy's signature schemes and groups nor the kube-mtls peer
 * check; a server that serves the kube-mtls bundle therefore has Spring Boot's own TLS set up
 * switched off and gets this one instead.
 */
public final class ServerTls {

  private final TlsPolicy policy;
  private final SSLContext context;

  private ServerTls(TlsPolicy policy, SSLContext context) {
    this.policy = policy;
    this.context = context;
  }

  /** The policy with the client-certificate demand applied. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The JDK context that follows the source: each new connection takes the current snapshot. */
  public SSLContext context() {
    return context;
  }

  /**
   * Takes the TLS of {@code factory} over if its {@code server.ssl} serves {@code bundle}: returns
   * what to serve with, and leaves the factory with TLS switched off for Spring Boot's own set up.
   * Returns null (and leaves the factory alone) for a server that does not serve the bundle.
   */
  static ServerTls takeOver(WebServerFactory factory, String bundle, MaterialSource source, TlsPolicy policy,
      TlsListener listener) {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(listener, "listener");
    if (!(factory instanceof AbstractConfigurableWebServerFactory configurable)) {
      return null;
    }
    Ssl ssl = configurable.getSsl();
    if (ssl == null || !Ssl.isEnabled(ssl) || !bundle.equals(ssl.getBundle())) {
      return null;
    }
    if (!ssl.getServerNameBundles().isEmpty()) {
      throw new IllegalStateException("server.ssl.server-name-bundles is not supported with the kube-mtls bundle '"
          + bundle + "': remove it, or serve another bundle");
    }
    TlsPolicy applied = policy.withClientAuth(clientAuth(ssl));
    Ssl off = new Ssl();
    off.setEnabled(false);
    configurable.setSsl(off);
    // Only the bundle in the handshake; kube-mtls.peer.* is the request filter's.
    MtlsJdkTls tls = MtlsJdkTls.forServer(source).tlsPolicy(applied).peerPolicy(PeerPolicy.allowAll())
        .listener(listener).build();
    return new ServerTls(applied, tls.sslContext());
  }

  /** {@code server.ssl.client-auth}: NEED (the starter's default) requires a certificate; else it is asked for. */
  static ClientAuth clientAuth(Ssl ssl) {
    return ssl.getClientAuth() == Ssl.ClientAuth.NEED ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL;
  }
}
