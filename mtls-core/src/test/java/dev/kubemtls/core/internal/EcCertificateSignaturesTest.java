package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.testkit.TestCa;
import java.io.ByteArrayInputStream;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SignatureException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link EcCertificateSignatures}: it confirms exactly the signatures the JDK accepts and leaves
 * every other case to the JDK, and {@link MaterialChecks#requireChainOrder} still refuses what it
 * refused. Real certificates (the test kit's P-256 CA), real SunEC for comparison.
 */
class EcCertificateSignaturesTest {

  private static final TestCa CA = TestCa.create("ec-signatures CA");
  private static final TestCa OTHER = TestCa.create("ec-signatures CA");

  private static X509Certificate leafOf(TestCa ca) {
    return ca.leaf(TestCa.newKeyPair().getPublic()).spiffe("shop", "orders").build();
  }

  /** The certificate with one bit of its signature's last byte flipped. */
  private static X509Certificate tampered(X509Certificate cert) throws Exception {
    byte[] der = cert.getEncoded();
    der[der.length - 1] ^= 0x01;
    return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(der));
  }

  @Test
  void confirmsWhatTheJdkAcceptsAndNothingElse() throws Exception {
    for (int i = 0; i < 20; i++) {
      X509Certificate leaf = leafOf(CA);
      assertThat(EcCertificateSignatures.verifies(leaf, CA.certificate().getPublicKey())).isTrue();
      assertThatCode(() -> leaf.verify(CA.certificate().getPublicKey())).doesNotThrowAnyException();

      // Another CA's key (same name): neither confirms.
      assertThat(EcCertificateSignatures.verifies(leaf, OTHER.certificate().getPublicKey())).isFalse();
      assertThatThrownBy(() -> leaf.verify(OTHER.certificate().getPublicKey())).isInstanceOf(SignatureException.class);

      // A changed signature: not confirmed; the JDK refuses it too.
      X509Certificate bad = tampered(leaf);
      assertThat(EcCertificateSignatures.verifies(bad, CA.certificate().getPublicKey())).isFalse();
      assertThatThrownBy(() -> bad.verify(CA.certificate().getPublicKey())).isInstanceOf(SignatureException.class);
    }
    // The self-signed CA with its own key.
    assertThat(EcCertificateSignatures.verifies(CA.certificate(), CA.certificate().getPublicKey())).isTrue();
  }

  @Test
  void leavesOtherKeysAndCurvesToTheJdk() throws Exception {
    KeyPairGenerator rsa = KeyPairGenerator.getInstance("RSA");
    rsa.initialize(2048);
    assertThat(EcCertificateSignatures.verifies(leafOf(CA), rsa.generateKeyPair().getPublic())).isFalse();
    KeyPairGenerator p521 = KeyPairGenerator.getInstance("EC");
    p521.initialize(new ECGenParameterSpec("secp521r1"));
    assertThat(EcCertificateSignatures.verifies(leafOf(CA), p521.generateKeyPair().getPublic())).isFalse();
  }

  @Test
  void theChainOrderCheckStillRefusesAChainNotSignedByItsNextCertificate() {
    KeyPair key = TestCa.newKeyPair();
    X509Certificate leaf = CA.leaf(key.getPublic()).spiffe("shop", "orders").build();
    assertThatCode(() -> MaterialChecks.requireChainOrder(new TlsIdentity(key.getPrivate(),
        List.of(leaf, CA.certificate()), 1))).doesNotThrowAnyException();
    assertThatThrownBy(() -> MaterialChecks.requireChainOrder(new TlsIdentity(key.getPrivate(),
        List.of(leaf, OTHER.certificate()), 1)))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("is not signed by certificate 1");
  }
}
