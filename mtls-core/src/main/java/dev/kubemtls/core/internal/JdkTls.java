package dev.kubemtls.core.internal;

import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import java.util.Objects;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;

/**
 * A {@link TlsPolicy} in the JDK's terms: {@link SSLParameters} for whole engines, and the
 * {@link PolicyConstraints} alone for engines whose other parameters someone else (Netty, Jetty)
 * already set. One instance per policy; engines share its constraints.
 */
public final class JdkTls {

  private final TlsPolicy policy;
  private final PolicyConstraints constraints;

  public JdkTls(TlsPolicy policy) {
    this.policy = Objects.requireNonNull(policy, "policy");
    this.constraints = new PolicyConstraints(policy);
  }

  public TlsPolicy policy() {
    return policy;
  }

  public PolicyConstraints constraints() {
    return constraints;
  }

  /**
   * Fresh parameters with the policy's protocols, suites (in order, the server's preference wins),
   * signature schemes and groups; a client also gets HTTPS endpoint identification, a server the
   * policy's client-certificate demand.
   */
  public SSLParameters parameters(boolean client) {
    SSLParameters p = new SSLParameters(policy.cipherSuites().toArray(String[]::new),
        policy.protocols().toArray(String[]::new));
    p.setUseCipherSuitesOrder(true);
    p.setAlgorithmConstraints(constraints);
    if (client) {
      p.setEndpointIdentificationAlgorithm("HTTPS");
    } else if (policy.clientAuth() == ClientAuth.REQUIRE) {
      p.setNeedClientAuth(true);
    } else {
      p.setWantClientAuth(true);
    }
    return p;
  }

  /** Adds the policy's signature schemes and groups to an engine configured otherwise. */
  public void restrict(SSLEngine engine) {
    SSLParameters p = engine.getSSLParameters();
    p.setAlgorithmConstraints(constraints);
    engine.setSSLParameters(p);
  }

  /** Adds the policy's signature schemes and groups to {@code parameters} and returns them. */
  public SSLParameters restrict(SSLParameters parameters) {
    parameters.setAlgorithmConstraints(constraints);
    return parameters;
  }
}
