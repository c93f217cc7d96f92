package dev.kubemtls.core.internal;

import java.math.BigInteger;
import java.security.PublicKey;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECFieldFp;
import java.security.spec.ECParameterSpec;
import java.util.List;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.cert.CertException;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.crypto.ec.CustomNamedCurves;
import org.bouncycastle.crypto.params.ECDomainParameters;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.operator.DefaultDigestAlgorithmIdentifierFinder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.bc.BcECContentVerifierProviderBuilder;

/**
 * A certificate's ECDSA signature checked with BouncyCastle's arithmetic for the P-256 and P-384
 * curves (their own field code), which on Java 17 costs a fraction of SunEC's. Only a positive
 * answer is used: the same signature algorithm in the certificate and in its signed part, a strictly
 * DER-encoded signature with r and s in range, over the exact signed bytes, by a valid point of the
 * key's curve. Anything else (another key or curve, a signature that does not verify, a parse
 * problem) is left to the JDK's {@link X509Certificate#verify(PublicKey)}, which decides and says
 * why; so this accepts nothing the JDK would refuse. Not API.
 */
final class EcCertificateSignatures {

  private static final List<X9ECParameters> CURVES = List.of(CustomNamedCurves.getByName("secp256r1"),
      CustomNamedCurves.getByName("secp384r1"));

  private EcCertificateSignatures() {}

  /** Whether {@code key} verifiably signed {@code cert}; false means "ask the JDK", not "invalid". */
  static boolean verifies(X509Certificate cert, PublicKey key) {
    if (!(key instanceof ECPublicKey ec) || cert.getSigAlgParams() != null) {
      return false; // ECDSA's algorithm identifiers carry no parameters: an odd one is the JDK's to judge
    }
    X9ECParameters curve = curveOf(ec.getParams());
    if (curve == null) {
      return false;
    }
    try {
      ECDomainParameters domain = new ECDomainParameters(curve.getCurve(), curve.getG(), curve.getN(), curve.getH());
      // The constructor validates the point (on the curve, in the right subgroup, not infinity).
      ECPublicKeyParameters publicKey = new ECPublicKeyParameters(curve.getCurve().validatePoint(
          ec.getW().getAffineX(), ec.getW().getAffineY()), domain);
      X509CertificateHolder holder = new X509CertificateHolder(cert.getEncoded());
      // Checks that the outer and the signed algorithm identifiers are the same, as the JDK does.
      return holder.isSignatureValid(new BcECContentVerifierProviderBuilder(
          new DefaultDigestAlgorithmIdentifierFinder()).build(publicKey));
    } catch (CertException | OperatorCreationException | CertificateEncodingException | java.io.IOException
        | RuntimeException e) {
      return false;
    }
  }

  /** The curve whose every parameter equals {@code params}', or null. */
  private static X9ECParameters curveOf(ECParameterSpec params) {
    if (params == null || !(params.getCurve().getField() instanceof ECFieldFp field)) {
      return null;
    }
    for (X9ECParameters curve : CURVES) {
      if (curve.getN().equals(params.getOrder())
          && BigInteger.valueOf(params.getCofactor()).equals(curve.getH())
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
