package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.tls.TlsPolicy;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/** A {@link TlsPolicy} in a Jetty {@link SslContextFactory}. Not part of the public API. */
final class Policies {

  private Policies() {}

  /** Protocols and suites in the policy's order (the server's order wins); no renegotiation. */
  static void apply(SslContextFactory factory, TlsPolicy policy) {
    factory.setIncludeProtocols(policy.protocols().toArray(String[]::new));
    factory.setIncludeCipherSuites(policy.cipherSuites().toArray(String[]::new));
    factory.setUseCipherSuitesOrder(true);
    factory.setRenegotiationAllowed(false);
  }
}
