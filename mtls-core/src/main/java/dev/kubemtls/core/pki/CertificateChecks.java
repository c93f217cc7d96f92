package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.interfaces.ECKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.cert.X509Certificate;
import java.util.Objects;
import java.util.Optional;

/**
 * The certificate rules that the signer and every workload apply alike, each defined once here so
 * the two sides cannot disagree: what counts as a CA certificate, and whether a private key belongs
 * to a public key.
 *
 * <p><b>A CA certificate</b> (RFC 5280, section 4.2.1.9 and 4.2.1.3, as PKIX validators apply it)
 * has basicConstraints with {@code cA=true}; if it carries a keyUsage extension, that extension
 * must include {@code keyCertSign}. A CA without any keyUsage extension is accepted: that is what
 * {@code openssl req -x509} makes with the stock configuration, and the JDK's and Go's path
 * validators accept it.
 *
 * <p><b>Key match</b>: for an EC key on P-256, P-384 or P-521 whose private scalar is readable, the
 * public point is derived from it and compared with the public key (the definition of a key pair,
 * a tenth of the cost of a signature probe with the JDK's provider). For any other key (RSA,
 * Ed25519, an EC key that does not reveal its scalar, such as one in a hardware module) it is proved
 * by a signature: the private key signs a fixed challenge and the public key must verify it. That
 * costs one signature and one verification, so call it once per key, not per connection.
 */
public final class CertificateChecks {

  /** The index of {@code keyCertSign} in {@link X509Certificate#getKeyUsage()}. */
  private static final int KEY_CERT_SIGN = 5;

  private static final byte[] CHALLENGE = "kube-mtls key/certificate match".getBytes(StandardCharsets.US_ASCII);

  private CertificateChecks() {}

  /**
   * Why {@code certificate} is not a CA certificate, or empty if it is one.
   *
   * @return a sentence fragment such as {@code "is not a CA certificate (basicConstraints CA=true is missing)"}
   */
  public static Optional<String> caProblem(X509Certificate certificate) {
    Objects.requireNonNull(certificate, "certificate");
    if (certificate.getBasicConstraints() < 0) {
      return Optional.of("is not a CA certificate (basicConstraints CA=true is missing); a trust bundle and a"
          + " signer hold only CA certificates, not leaf certificates");
    }
    boolean[] keyUsage = certificate.getKeyUsage();
    if (keyUsage != null && (keyUsage.length <= KEY_CERT_SIGN || !keyUsage[KEY_CERT_SIGN])) {
      return Optional.of("may not sign certificates: its keyUsage extension lacks keyCertSign (leave keyUsage"
          + " out, or include keyCertSign)");
    }
    return Optional.empty();
  }

  /** Whether {@code certificate} is a CA certificate by the rule above. */
  public static boolean isCa(X509Certificate certificate) {
    return caProblem(certificate).isEmpty();
  }

  /**
   * Checks that {@code certificate} is a CA certificate.
   *
   * @param what names the certificate in the message, e.g. {@code "ConfigMap ns/name key ca.crt: certificate 1"}
   * @throws InvalidMaterialException saying what is wrong
   */
  public static void requireCa(X509Certificate certificate, String what) {
    Objects.requireNonNull(what, "what");
    Optional<String> problem = caProblem(certificate);
    if (problem.isPresent()) {
      throw new InvalidMaterialException(what + " (subject '" + certificate.getSubjectX500Principal().getName()
          + "', serial " + certificate.getSerialNumber().toString(16) + ") " + problem.get());
    }
  }

  /**
   * Whether {@code privateKey} is the private half of {@code publicKey}: a signature over a fixed
   * challenge that the public key verifies. Keys of different or unsupported types do not match.
   */
  public static boolean keyMatches(PublicKey publicKey, PrivateKey privateKey) {
    Objects.requireNonNull(publicKey, "publicKey");
    Objects.requireNonNull(privateKey, "privateKey");
    Optional<String> algorithm = probeAlgorithm(privateKey);
    if (algorithm.isEmpty() || !sameFamily(publicKey, privateKey)) {
      return false;
    }
    if (publicKey instanceof ECPublicKey ecPublic && privateKey instanceof ECPrivateKey ecPrivate) {
      Optional<Boolean> derived = EcKeyMatch.matches(ecPublic, ecPrivate);
      if (derived.isPresent()) {
        return derived.get();
      }
    }
    try {
      Signature signer = Signature.getInstance(algorithm.get());
      signer.initSign(privateKey);
      signer.update(CHALLENGE);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm.get());
      verifier.initVerify(publicKey);
      verifier.update(CHALLENGE);
      return verifier.verify(signature);
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      return false;
    }
  }

  /** Whether kube-mtls can use keys of this private key's type (EC, RSA, Ed25519). */
  public static boolean isSupportedKey(PrivateKey privateKey) {
    return probeAlgorithm(Objects.requireNonNull(privateKey, "privateKey")).isPresent();
  }

  private static boolean sameFamily(PublicKey publicKey, PrivateKey privateKey) {
    String pub = family(publicKey.getAlgorithm());
    return pub.equals(family(privateKey.getAlgorithm()));
  }

  private static String family(String algorithm) {
    return switch (algorithm) {
      case "EC", "ECDSA" -> "EC";
      case "Ed25519", "EdDSA" -> "Ed25519";
      default -> algorithm;
    };
  }

  private static Optional<String> probeAlgorithm(PrivateKey key) {
    return switch (family(key.getAlgorithm())) {
      case "EC" -> {
        int bits = key instanceof ECKey ec ? ec.getParams().getOrder().bitLength() : 256;
        yield Optional.of(bits > 384 ? "SHA512withECDSA" : bits > 256 ? "SHA384withECDSA" : "SHA256withECDSA");
      }
      case "RSA" -> Optional.of("SHA256withRSA");
      case "Ed25519" -> Optional.of("Ed25519");
      default -> Optional.empty();
    };
  }
}
