package dev.kubemtls.servlet;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/** Issues test identities and bundles: leaf certificates name localhost and 127.0.0.1. */
final class Pki {

  private Pki() {}

  static TrustBundle bundle(String version, TestCa... cas) {
    List<X509Certificate> certs = Arrays.stream(cas).map(TestCa::certificate).toList();
    return new TrustBundle(certs, version);
  }

  static TlsIdentity identity(TestCa ca, long generation, String namespace, String serviceAccount) {
    return identity(ca, generation, leaf -> leaf.spiffe(namespace, serviceAccount));
  }

  /** An identity with the loopback names plus whatever {@code options} add. */
  static TlsIdentity identity(TestCa ca, long generation, UnaryOperator<TestCa.LeafBuilder> options) {
    KeyPair keys = TestCa.newKeyPair();
    X509Certificate leaf = options.apply(ca.leaf(keys.getPublic()).commonName("gen-" + generation)
        .dns("localhost").ip("127.0.0.1")).build();
    return new TlsIdentity(keys.getPrivate(), List.of(leaf), generation);
  }

  static MtlsMaterial material(TestCa ca, String namespace, String serviceAccount, TrustBundle trust) {
    return new MtlsMaterial(identity(ca, 1, namespace, serviceAccount), trust, 1);
  }
}
