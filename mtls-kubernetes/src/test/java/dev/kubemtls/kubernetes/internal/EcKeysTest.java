package dev.kubemtls.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.pki.KeyAlgorithm;
import java.nio.charset.StandardCharsets;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.HashSet;
import java.util.Set;
import org.bouncycastle.operator.ContentSigner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class EcKeysTest {

  private final SecureRandom random = new SecureRandom();

  @ParameterizedTest
  @EnumSource(value = KeyAlgorithm.class, names = {"EC_P256", "EC_P384"})
  void keysAreTheJdksOwnOnTheAlgorithmsCurveAndMatch(KeyAlgorithm algorithm) throws Exception {
    KeyPair mine = EcKeys.generate(algorithm, random);
    KeyPair jdks = algorithm.generate(random);

    assertThat(mine.getPublic().getClass()).isEqualTo(jdks.getPublic().getClass());
    assertThat(mine.getPrivate().getClass()).isEqualTo(jdks.getPrivate().getClass());
    ECPublicKey pub = (ECPublicKey) mine.getPublic();
    assertThat(pub.getParams().getCurve()).isEqualTo(((ECPublicKey) jdks.getPublic()).getParams().getCurve());
    assertThat(pub.getParams().getGenerator()).isEqualTo(((ECPublicKey) jdks.getPublic()).getParams().getGenerator());
    // The same encodings as the JDK's keys (named curve), and they read back as equal keys.
    KeyFactory factory = KeyFactory.getInstance("EC");
    assertThat(factory.generatePublic(new X509EncodedKeySpec(pub.getEncoded()))).isEqualTo(pub);
    assertThat(factory.generatePrivate(new PKCS8EncodedKeySpec(mine.getPrivate().getEncoded())))
        .isEqualTo(mine.getPrivate());
    assertThat(pub.getEncoded()).hasSameSizeAs(jdks.getPublic().getEncoded());

    // The public key is the private one's: a JDK signature with one verifies with the other.
    byte[] message = "proof".getBytes(StandardCharsets.US_ASCII);
    Signature signer = Signature.getInstance(algorithm.signatureAlgorithm());
    signer.initSign(mine.getPrivate());
    signer.update(message);
    byte[] signature = signer.sign();
    Signature verifier = Signature.getInstance(algorithm.signatureAlgorithm());
    verifier.initVerify(mine.getPublic());
    verifier.update(message);
    assertThat(verifier.verify(signature)).isTrue();
  }

  @ParameterizedTest
  @EnumSource(value = KeyAlgorithm.class, names = {"EC_P256", "EC_P384"})
  void signaturesVerifyWithTheJdkAndNameTheAlgorithm(KeyAlgorithm algorithm) throws Exception {
    KeyPair keys = algorithm.generate(random);
    ContentSigner signer = EcKeys.signer(algorithm, keys.getPrivate(), random);
    byte[] message = "certification request info".getBytes(StandardCharsets.US_ASCII);
    signer.getOutputStream().write(message);
    byte[] signature = signer.getSignature();

    Signature verifier = Signature.getInstance(algorithm.signatureAlgorithm());
    verifier.initVerify(keys.getPublic());
    verifier.update(message);
    assertThat(verifier.verify(signature)).isTrue();
    assertThat(signer.getAlgorithmIdentifier().getAlgorithm().getId())
        .isEqualTo(algorithm == KeyAlgorithm.EC_P256 ? "1.2.840.10045.4.3.2" : "1.2.840.10045.4.3.3");

    // Another message does not verify with it.
    verifier.initVerify(keys.getPublic());
    verifier.update("something else".getBytes(StandardCharsets.US_ASCII));
    assertThat(verifier.verify(signature)).isFalse();
  }

  @Test
  void everyKeyIsNew() {
    Set<java.math.BigInteger> scalars = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      scalars.add(((ECPrivateKey) EcKeys.generate(KeyAlgorithm.EC_P256, random).getPrivate()).getS());
    }
    assertThat(scalars).hasSize(50);
  }

  @Test
  void otherAlgorithmsAndKeysAreRefused() {
    assertThat(EcKeys.supports(KeyAlgorithm.EC_P256)).isTrue();
    assertThat(EcKeys.supports(KeyAlgorithm.EC_P384)).isTrue();
    assertThat(EcKeys.supports(KeyAlgorithm.RSA_2048)).isFalse();
    assertThat(EcKeys.supports(KeyAlgorithm.RSA_3072)).isFalse();
    assertThatThrownBy(() -> EcKeys.generate(KeyAlgorithm.RSA_2048, random))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("RSA_2048");
    KeyPair rsa = KeyAlgorithm.RSA_2048.generate(random);
    assertThatThrownBy(() -> EcKeys.signer(KeyAlgorithm.EC_P256, rsa.getPrivate(), random))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an EC private key");
  }
}
