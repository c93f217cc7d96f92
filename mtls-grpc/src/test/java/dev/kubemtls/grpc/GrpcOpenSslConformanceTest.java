package dev.kubemtls.grpc;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.netty.TlsProvider;

/** The conformance suite on mtls-grpc with the OPENSSL provider. */
class GrpcOpenSslConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new GrpcIntegration(TlsProvider.OPENSSL);
  }
}
