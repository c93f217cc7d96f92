package dev.kubemtls.core.pki;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECPrivateKeySpec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** {@link CertificateChecks#keyMatches}: the derived EC point and the signature probe agree with what a key pair is. */
class CertificateChecksKeyMatchTest {

  private static KeyPair ec(String curve) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec(curve));
    return g.generateKeyPair();
  }

  @ParameterizedTest
  @ValueSource(strings = {"secp256r1", "secp384r1", "secp521r1"})
  void anEcKeyMatchesItsOwnPublicKeyAndNoOther(String curve) throws Exception {
    KeyPair a = ec(curve);
    KeyPair b = ec(curve);
    assertThat(CertificateChecks.keyMatches(a.getPublic(), a.getPrivate())).isTrue();
    assertThat(CertificateChecks.keyMatches(b.getPublic(), a.getPrivate())).isFalse();
    assertThat(EcKeyMatch.matches((ECPublicKey) a.getPublic(), (ECPrivateKey) a.getPrivate())).contains(true);
    assertThat(EcKeyMatch.matches((ECPublicKey) b.getPublic(), (ECPrivateKey) a.getPrivate())).contains(false);
  }

  @Test
  void keysOnDifferentCurvesDoNotMatch() throws Exception {
    KeyPair p256 = ec("secp256r1");
    KeyPair p384 = ec("secp384r1");
    assertThat(EcKeyMatch.matches((ECPublicKey) p384.getPublic(), (ECPrivateKey) p256.getPrivate())).isEmpty();
    assertThat(CertificateChecks.keyMatches(p384.getPublic(), p256.getPrivate())).isFalse();
  }

  @Test
  void aScalarOutsideTheGroupOrderDoesNotMatch() throws Exception {
    KeyPair a = ec("secp256r1");
    ECPrivateKey priv = (ECPrivateKey) a.getPrivate();
    BigInteger n = priv.getParams().getOrder();
    // d + n names the same point, but it is not a valid private key (RFC 5915: 1 <= d < n).
    ECPrivateKey wrapped = (ECPrivateKey) KeyFactory.getInstance("EC")
        .generatePrivate(new ECPrivateKeySpec(priv.getS().add(n), priv.getParams()));
    assertThat(EcKeyMatch.matches((ECPublicKey) a.getPublic(), wrapped)).contains(false);
  }

  @Test
  void rsaAndMixedFamiliesUseTheSignatureProbe() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    KeyPair rsa = g.generateKeyPair();
    KeyPair other = g.generateKeyPair();
    assertThat(CertificateChecks.keyMatches(rsa.getPublic(), rsa.getPrivate())).isTrue();
    assertThat(CertificateChecks.keyMatches(other.getPublic(), rsa.getPrivate())).isFalse();
    assertThat(CertificateChecks.keyMatches(ec("secp256r1").getPublic(), rsa.getPrivate())).isFalse();
  }
}
