package dev.kubemtls.grpc;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.util.List;
import java.util.function.UnaryOperator;

/** Material for tests, issued by {@link TestCa}. */
final class Pki {

  private Pki() {}

  static TlsIdentity identity(TestCa ca, long generation, UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(spec.apply(ca.leaf(kp.getPublic())).build()), generation);
  }

  static TrustBundle trust(String version, TestCa... cas) {
    return new TrustBundle(java.util.Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }

  /** The server identity: orders in namespace shop, reachable as orders.shop.svc and 127.0.0.1. */
  static TlsIdentity server(TestCa ca, long generation) {
    return identity(ca, generation, b -> b.commonName("orders").spiffe("shop", "orders")
        .dns("orders.shop.svc").ip("127.0.0.1"));
  }

  /** The client identity: web in namespace shop. */
  static TlsIdentity client(TestCa ca, long generation) {
    return identity(ca, generation, b -> b.commonName("web").spiffe("shop", "web").dns("web.shop.svc"));
  }

  static MtlsMaterial material(TlsIdentity identity, TrustBundle trust) {
    return new MtlsMaterial(identity, trust, 1);
  }
}
