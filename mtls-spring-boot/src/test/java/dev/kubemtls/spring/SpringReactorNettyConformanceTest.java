package dev.kubemtls.spring;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;

/** The conformance suite on the Spring Boot starter's server on ReactorNetty; see {@link SpringIntegration}. */
class SpringReactorNettyConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new SpringIntegration(SpringIntegration.Kind.REACTOR_NETTY);
  }
}
