package dev.kubemtls.netty;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;

/** The conformance suite on mtls-netty with the OPENSSL provider. */
class NettyOpenSslConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new NettyIntegration(TlsProvider.OPENSSL);
  }
}
