package dev.kubemtls.spring;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;

/** The conformance suite on the Spring Boot starter's server on Jetty; see {@link SpringIntegration}. */
class SpringJettyConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new SpringIntegration(SpringIntegration.Kind.JETTY);
  }
}
