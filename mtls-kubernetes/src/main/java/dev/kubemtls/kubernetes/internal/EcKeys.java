package dev.kubemtls.kubernetes.internal;

import dev.kubemtls.core.pki.KeyAlgorithm;
import java.math.BigInteger;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.ECParameterSpec;
import java.security.spec.ECPoint;
import java.security.spec.ECPrivateKeySpec;
import java.security.spec.ECPublicKeySpec;
import java.util.Objects;
import java.util.Optional;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.crypto.generators.ECKeyPairGenerator;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECKeyGenerationParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.DefaultSignatureAlgorithmIdentifierFinder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.bc.BcECContentSignerBuilder;

/**
 * A workload's EC key pair and its CSR's signature, computed with BouncyCastle's arithmetic for
 * the NIST curves (fixed-point multiplication of the base point, the curves' own field code), which
 * costs a fraction of the JDK's on Java 17 for the two base-point multiplications of a start (key
 * generation, the request's ECDSA signature). The keys handed out are the JDK's own ({@link
 * KeyFactory} "EC"), the same objects {@link KeyAlgorithm#generate} gives, so the TLS stacks see
 * nothing different. P-256 and P-384 only; other algorithms are the JDK's ({@link #supports}).
 */
public final class EcKeys {

  private record Curve(ECDomainParameters domain, ECParameterSpec jdk) {}

  private static final Curve P256 = curve("secp256r1");
  private static final Curve P384 = curve("secp384r1");

  private EcKeys() {}

  private static Curve curve(String name) {
    X9ECParameters x9 = CustomNamedCurves.getByName(name);
    try {
      AlgorithmParameters parameters = AlgorithmParameters.getInstance("EC");
      parameters.init(new ECGenParameterSpec(name));
      return new Curve(new ECDomainParameters(x9.getCurve(), x9.getG(), x9.getN(), x9.getH(), x9.getSeed()),
          parameters.getParameterSpec(ECParameterSpec.class));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK does not know curve " + name, e);
    }
  }

  private static Optional<Curve> curveOf(KeyAlgorithm algorithm) {
    return switch (algorithm) {
      case EC_P256 -> Optional.of(P256);
      case EC_P384 -> Optional.of(P384);
      default -> Optional.empty();
    };
  }

  /** Whether {@link #generate} and {@link #signer} serve {@code algorithm}. */
  public static boolean supports(KeyAlgorithm algorithm) {
    return curveOf(Objects.requireNonNull(algorithm, "algorithm")).isPresent();
  }

  /**
   * A fresh key pair on {@code algorithm}'s curve, as JDK key objects.
   *
   * @throws IllegalArgumentException if {@code algorithm} is not {@linkplain #supports supported}
   */
  public static KeyPair generate(KeyAlgorithm algorithm, SecureRandom random) {
    Objects.requireNonNull(random, "random");
    Curve curve = curveOf(algorithm).orElseThrow(() -> new IllegalArgumentException(algorithm + " is not EC"));
    ECKeyPairGenerator generator = new ECKeyPairGenerator();
    generator.init(new ECKeyGenerationParameters(curve.domain(), random));
    AsymmetricCipherKeyPair pair = generator.generateKeyPair();
    BigInteger d = ((ECPrivateKeyParameters) pair.getPrivate()).getD();
    org.bouncycastle.math.ec.ECPoint q = ((ECPublicKeyParameters) pair.getPublic()).getQ().normalize();
    try {
      KeyFactory factory = KeyFactory.getInstance("EC");
      return new KeyPair(
          factory.generatePublic(new ECPublicKeySpec(new ECPoint(q.getAffineXCoord().toBigInteger(),
              q.getAffineYCoord().toBigInteger()), curve.jdk())),
          factory.generatePrivate(new ECPrivateKeySpec(d, curve.jdk())));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK refused an EC key of " + algorithm, e);
    }
  }

  /**
   * Signs with {@code key} the way {@code algorithm} says ({@link KeyAlgorithm#signatureAlgorithm()},
   * e.g. SHA256withECDSA), with random nonces from {@code random}.
   *
   * @throws IllegalArgumentException if {@code algorithm} is not {@linkplain #supports supported} or
   *     {@code key} is not an EC private key
   */
  public static ContentSigner signer(KeyAlgorithm algorithm, PrivateKey key, SecureRandom random)
      throws OperatorCreationException {
    Objects.requireNonNull(random, "random");
    Curve curve = curveOf(algorithm).orElseThrow(() -> new IllegalArgumentException(algorithm + " is not EC"));
    if (!(key instanceof ECPrivateKey ec)) {
      throw new IllegalArgumentException("not an EC private key: " + (key == null ? null : key.getAlgorithm()));
    }
    AlgorithmIdentifier signature = new DefaultSignatureAlgorithmIdentifierFinder().find(
        algorithm.signatureAlgorithm());
    AlgorithmIdentifier digest = new DefaultDigestAlgorithmIdentifierFinder().find(signature);
    BcECContentSignerBuilder builder = new BcECContentSignerBuilder(signature, digest);
    builder.setSecureRandom(random);
    return builder.build(new ECPrivateKeyParameters(ec.getS(), curve.domain()));
  }
}
