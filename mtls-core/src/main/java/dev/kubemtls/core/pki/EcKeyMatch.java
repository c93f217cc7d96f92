package dev.kubemtls.core.pki;

import java.math.BigInteger;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECFieldFp;
import java.security.spec.ECParameterSpec;
import java.util.List;
import java.util.Optional;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.math.ec.ECPoint;
import org.bouncycastle.math.ec.FixedPointCombMultiplier;

/**
 * Whether an EC private key belongs to an EC public key, by deriving the public point from the
 * private scalar on the named curve (BouncyCastle's fixed-point multiplication, whose table for the
 * curve's generator is computed once per JVM) and comparing. Only for P-256, P-384 and P-521 with
 * both keys on the same curve and a readable scalar; anything else is left to the signature probe.
 */
final class EcKeyMatch {

  private static final List<X9ECParameters> CURVES = List.of(CustomNamedCurves.getByName("secp256r1"),
      CustomNamedCurves.getByName("secp384r1"), CustomNamedCurves.getByName("secp521r1"));

  private EcKeyMatch() {}

  /**
   * @return whether {@code privateKey}'s scalar times the generator is {@code publicKey}'s point;
   *     empty when this cannot tell (another curve, the keys' curves differ, no readable scalar)
   */
  static Optional<Boolean> matches(ECPublicKey publicKey, ECPrivateKey privateKey) {
    BigInteger d;
    try {
      d = privateKey.getS();
    } catch (RuntimeException e) {
      return Optional.empty(); // a key that keeps its scalar to itself
    }
    if (d == null) {
      return Optional.empty();
    }
    X9ECParameters curve = curveOf(privateKey.getParams());
    if (curve == null || curve != curveOf(publicKey.getParams())) {
      return Optional.empty();
    }
    if (d.signum() <= 0 || d.compareTo(curve.getN()) >= 0) {
      return Optional.of(false);
    }
    ECPoint q = new FixedPointCombMultiplier().multiply(curve.getG(), d).normalize();
    java.security.spec.ECPoint w = publicKey.getW();
    return Optional.of(q.getAffineXCoord().toBigInteger().equals(w.getAffineX())
        && q.getAffineYCoord().toBigInteger().equals(w.getAffineY()));
  }

  /** The curve whose every parameter equals {@code params}', or null. */
  private static X9ECParameters curveOf(ECParameterSpec params) {
    if (params == null || !(params.getCurve().getField() instanceof ECFieldFp field)) {
      return null;
    }
    for (X9ECParameters curve : CURVES) {
      if (curve.getN().equals(params.getOrder())
          && curve.getH().intValue() == params.getCofactor()
          && curve.getCurve().getField().getCharacteristic().equals(field.getP())
          && curve.getCurve().getA().toBigInteger().equals(params.getCurve().getA())
          && curve.getCurve().getB().toBigInteger().equals(params.getCurve().getB())
          && curve.getG().getAffineXCoord().toBigInteger().equals(params.getGenerator().getAffineX())
          && curve.getG().getAffineYCoord().toBigInteger().equals(params.getGenerator().getAffineY())) {
        return curve;
      }
    }
    return null;
  }
}
