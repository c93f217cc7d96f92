package dev.kubemtls.core;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link MtlsMaterial#validate()}: the one check every integration makes before building a context. */
class MtlsMaterialTest {

  private static final TestCa CA = TestCa.create("ca-one");
  private static final TestCa OTHER = TestCa.create("ca-two");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");

  private static MtlsMaterial material(TlsIdentity identity, TrustBundle trust) {
    return new MtlsMaterial(identity, trust, 1);
  }

  @Test
  void acceptsMatchingKeyOrderedChainAndCaTrust() {
    KeyPair kp = TestCa.newKeyPair();
    TlsIdentity id = new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).build(), CA.certificate()), 3);
    assertThatCode(() -> material(id, TRUST).validate()).doesNotThrowAnyException();
    TlsIdentity leafOnly = new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 3);
    assertThatCode(() -> material(leafOnly, new TrustBundle(List.of(CA.certificate(), OTHER.certificate()), "t@2"))
        .validate()).doesNotThrowAnyException();
  }

  @Test
  void refusesAKeyThatDoesNotBelongToTheLeaf() {
    KeyPair kp = TestCa.newKeyPair();
    TlsIdentity id = new TlsIdentity(TestCa.newKeyPair().getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 7);
    assertThatThrownBy(() -> material(id, TRUST).validate()).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("the private key does not belong to the leaf certificate")
        .hasMessageContaining("generation=7");
  }

  @Test
  void refusesALeafThatIsACa() {
    TlsIdentity id = new TlsIdentity(OTHER.keyPair().getPrivate(), List.of(OTHER.certificate()), 1);
    assertThatThrownBy(() -> material(id, TRUST).validate()).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("is a CA certificate").hasMessageContaining("basicConstraints CA=false");
  }

  @Test
  void refusesAChainOutOfOrder() {
    KeyPair kp = TestCa.newKeyPair();
    TlsIdentity id = new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).build(), OTHER.certificate()), 1);
    assertThatThrownBy(() -> material(id, TRUST).validate()).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("certificate 0 of the chain").hasMessageContaining("order the chain leaf first");
  }

  @Test
  void refusesATrustEntryThatIsNotACa() {
    KeyPair kp = TestCa.newKeyPair();
    TlsIdentity id = new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 1);
    TrustBundle withLeaf = new TrustBundle(List.of(CA.certificate(), id.leaf()), "ns/ca@5");
    assertThatThrownBy(() -> material(id, withLeaf).validate()).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("trust bundle ns/ca@5: certificate 2 (subject 'CN=test'").hasMessageContaining("not a CA certificate");
  }

  @Test
  void refusesUnsupportedKeyTypes() throws Exception {
    KeyPairGenerator dsa = KeyPairGenerator.getInstance("DSA");
    dsa.initialize(2048);
    KeyPair kp = TestCa.newKeyPair();
    TlsIdentity id = new TlsIdentity(dsa.generateKeyPair().getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 1);
    assertThatThrownBy(() -> material(id, TRUST).validate()).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("DSA key; kube-mtls supports EC, RSA and Ed25519 keys");
  }
}
