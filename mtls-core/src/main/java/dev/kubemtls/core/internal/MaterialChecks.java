package dev.kubemtls.core.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.InvalidAlgorithmParameterException;
import java.security.Signature;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The checks material must pass before a {@code CertificateManager} publishes it. Not API.
 */
public final class MaterialChecks {

  private static final byte[] CHALLENGE = "kube-mtls key/certificate match".getBytes(StandardCharsets.US_ASCII);

  private MaterialChecks() {}

  /** The private key signs what the leaf's public key verifies. */
  public static void requireKeyMatchesLeaf(TlsIdentity identity) {
    String algorithm = switch (identity.privateKey().getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      default -> throw new InvalidMaterialException("unsupported private key algorithm "
          + identity.privateKey().getAlgorithm() + " in " + identity);
    };
    try {
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(identity.privateKey());
      signer.update(CHALLENGE);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(identity.leaf().getPublicKey());
      verifier.update(CHALLENGE);
      if (!verifier.verify(signature)) {
        throw new InvalidMaterialException("the private key does not belong to the leaf certificate of " + identity);
      }
    } catch (GeneralSecurityException e) {
      throw new InvalidMaterialException("the private key does not belong to the leaf certificate of " + identity
          + " (" + e.getClass().getSimpleName() + ")");
    }
  }

  /**
   * The identity's chain is valid at {@code at} and ends in one of the bundle's CAs (PKIX, no
   * revocation checks).
   */
  public static void requireChainsTo(TlsIdentity identity, TrustBundle bundle, Instant at) {
    Set<TrustAnchor> anchors = new HashSet<>();
    for (X509Certificate ca : bundle.certificates()) {
      anchors.add(new TrustAnchor(ca, null));
    }
    List<X509Certificate> path = new ArrayList<>();
    path.add(identity.leaf());
    for (X509Certificate c : identity.chain().subList(1, identity.chain().size())) {
      if (!bundle.certificates().contains(c)) {
        path.add(c);
      }
    }
    try {
      CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
      PKIXParameters params = new PKIXParameters(anchors);
      params.setRevocationEnabled(false);
      params.setDate(Date.from(at));
      CertPathValidator.getInstance("PKIX").validate(certPath, params);
    } catch (CertPathValidatorException e) {
      throw new InvalidMaterialException(identity + " does not chain to " + bundle + " at " + at + ": "
          + e.getMessage(), e);
    } catch (InvalidAlgorithmParameterException e) {
      throw new InvalidMaterialException("cannot use " + bundle + " as trust anchors: " + e.getMessage(), e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK cannot validate certificate paths", e);
    }
  }
}
