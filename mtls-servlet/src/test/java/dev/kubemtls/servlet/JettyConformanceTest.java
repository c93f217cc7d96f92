package dev.kubemtls.servlet;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;

/** The conformance suite on mtls-servlet's Jetty server and client. */
class JettyConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new JettyIntegration();
  }
}
