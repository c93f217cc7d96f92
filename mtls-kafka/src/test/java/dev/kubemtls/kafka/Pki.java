package dev.kubemtls.kafka;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/** Material for the Kafka tests, issued by {@link TestCa}. */
final class Pki {

  static final String BROKER_ID = "spiffe://cluster.local/ns/kafka/sa/broker";
  static final String ADMIN_ID = "spiffe://cluster.local/ns/kafka/sa/admin";

  private Pki() {}

  static TlsIdentity identity(TestCa ca, long generation, UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(spec.apply(ca.leaf(kp.getPublic())).build()), generation);
  }

  static TrustBundle trust(String version, TestCa... cas) {
    return new TrustBundle(Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }

  /**
   * The broker: kafka/broker, reachable as localhost and 127.0.0.1; server and client usage (it
   * dials its own controller and inter-broker listeners).
   */
  static TlsIdentity broker(TestCa ca, long generation) {
    return identity(ca, generation, b -> b.commonName("broker").spiffe("kafka", "broker")
        .dns("localhost").ip("127.0.0.1"));
  }

  /** A client workload {@code namespace/serviceAccount}. */
  static TlsIdentity client(TestCa ca, long generation, String namespace, String serviceAccount) {
    return identity(ca, generation, b -> b.commonName(serviceAccount).spiffe(namespace, serviceAccount)
        .usages(false, true));
  }

  static MtlsMaterial material(TlsIdentity identity, TrustBundle trust) {
    return new MtlsMaterial(identity, trust, 1);
  }
}
