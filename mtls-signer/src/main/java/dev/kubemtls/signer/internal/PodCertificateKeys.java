package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.DerLimits;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.Optional;
import org.bouncycastle.asn1.ASN1InputStream;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.pkcs.CertificationRequest;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * The subject key of a PodCertificateRequest, read as hostile input: from
 * {@code spec.stubPKCS10Request} (kubelets of 1.36 and later; the only field in
 * {@code certificates.k8s.io/v1}), or from {@code spec.pkixPublicKey} with
 * {@code spec.proofOfPossession} (kubelets of 1.35, {@code v1beta1}). The API server checked both
 * at admission; this signer checks again, so that nothing it certifies rests on a check it did not
 * make.
 *
 * <p>In this order, cheapest first: the base64 text's length, then the decoded size (the API
 * server's 10 KiB), then the DER shape ({@link DerLimits}: strict DER, nested at most
 * {@value #MAX_DEPTH} deep) before BouncyCastle reads the structure, then the key type from its
 * algorithm identifier (an RSA modulus's size is read from the encoding before the key is decoded),
 * then the key rules shared with CSRs ({@link RequestRules#keyProblem}), and last the signature: the
 * stub request's over its request info with one of the algorithms allowed for CSRs, or the proof of
 * possession over the Pod UID (ECDSA with SHA-256, or RSA-PSS with SHA-256, as the kubelet of 1.35
 * makes it). Of a stub request nothing but the key is used: its subject, attributes and extensions
 * are ignored (the kubelet sends none, and the names come from the cluster).
 */
final class PodCertificateKeys {

  /** The largest stub request, public key or proof accepted: the API server's limit for each (10 KiB). */
  public static final int MAX_BYTES = 10 * 1024;
  /** The deepest nesting accepted (a kubelet's request is 5 deep, an explicit EC curve 6). */
  static final int MAX_DEPTH = 12;
  /** Strict DER, nested at most {@link #MAX_DEPTH} deep; the size is bounded before. */
  private static final DerLimits SHAPE =
      DerLimits.of(Integer.MAX_VALUE, MAX_DEPTH).encoding(DerLimits.Encoding.DER);

  /** Denied: the request's key material is not what the API defines (garbage, too large, BER, both forms, none). */
  public static final String MALFORMED_REQUEST = ApprovalDecision.MALFORMED_REQUEST;
  /** Denied: the stub request's signature, or the proof of possession, does not verify with the key. */
  public static final String INVALID_SIGNATURE = ApprovalDecision.INVALID_SIGNATURE;

  /** What pod certificates this signer issues, in the podCertificate volume's {@code keyType} terms. */
  static final String SUPPORTED = "this signer issues pod certificates for keyType ECDSAP256 (recommended),"
      + " ECDSAP384, RSA3072 or RSA4096";

  private PodCertificateKeys() {}

  /** A key read from a request, or why none could be. */
  public sealed interface Result {
  }

  /**
   * The request's subject key.
   *
   * @param key    decoded by the JDK
   * @param spki   as encoded in the request
   * @param source {@code spec.stubPKCS10Request} or {@code spec.pkixPublicKey}
   */
  public record Key(PublicKey key, SubjectPublicKeyInfo spki, String source) implements Result {
  }

  /** No key: the Denied reason and a message that says what was wrong and what to do. */
  public record Problem(String reason, String message) implements Result {
  }

  /**
   * The subject key of a request from the base64 text of its fields (as in the JSON), any of which
   * may be null or empty: a stub request alone, or a public key with its proof alone.
   */
  public static Result read(String stubPkcs10Request, String pkixPublicKey, String proofOfPossession, String podUid) {
    try {
      return readChecked(stubPkcs10Request, pkixPublicKey, proofOfPossession, podUid);
    } catch (RuntimeException e) {
      // A parser's surprise must not escape: the controller would retry the request forever.
      return new Problem(MALFORMED_REQUEST, "the request's key material could not be read ("
          + e.getClass().getSimpleName() + ")");
    }
  }

  private static Result readChecked(String stubPkcs10Request, String pkixPublicKey, String proofOfPossession,
      String podUid) {
    boolean stub = present(stubPkcs10Request);
    boolean pkix = present(pkixPublicKey);
    boolean proof = present(proofOfPossession);
    if (stub && !pkix && !proof) {
      return fromStub(stubPkcs10Request);
    }
    if (!stub && pkix && proof) {
      return fromPkix(pkixPublicKey, proofOfPossession, podUid);
    }
    if (!stub && !pkix && !proof) {
      return new Problem(MALFORMED_REQUEST, "the request carries no key: neither spec.stubPKCS10Request (sent by"
          + " kubelets of 1.36 and later) nor spec.pkixPublicKey with spec.proofOfPossession (kubelets of 1.35;"
          + " certificates.k8s.io/v1 does not carry them, so such a kubelet must be upgraded to use it)");
    }
    return new Problem(MALFORMED_REQUEST, "the request must carry either spec.stubPKCS10Request alone or"
        + " spec.pkixPublicKey with spec.proofOfPossession; it carries " + ((stub ? "stubPKCS10Request " : "")
        + (pkix ? "pkixPublicKey " : "") + (proof ? "proofOfPossession" : "")).strip());
  }

  private static boolean present(String field) {
    return field != null && !field.isEmpty();
  }

  /** The key of a stub PKCS#10 request (the base64 text of its DER), its signature checked. */
  public static Result fromStub(String base64) {
    String field = "spec.stubPKCS10Request";
    Decoded decoded = decode(base64, field);
    if (decoded.problem != null) {
      return decoded.problem;
    }
    byte[] der = decoded.bytes;
    Optional<String> shape = SHAPE.problem(der);
    if (shape.isPresent()) {
      return malformed(field, shape.get());
    }
    CertificationRequest request;
    try (ASN1InputStream in = new ASN1InputStream(new ByteArrayInputStream(der), der.length)) {
      request = CertificationRequest.getInstance(in.readObject());
    } catch (IOException | RuntimeException e) {
      return malformed(field, e.getClass().getSimpleName());
    }
    if (request.getCertificationRequestInfo() == null || request.getSignature() == null
        || request.getSignatureAlgorithm() == null) {
      return malformed(field, "parts are missing");
    }
    SubjectPublicKeyInfo spki = request.getCertificationRequestInfo().getSubjectPublicKeyInfo();
    Result key = key(spki, field);
    if (!(key instanceof Key found)) {
      return key;
    }
    String algorithm = ParsedCsr.SIGNATURE_ALGORITHMS.get(request.getSignatureAlgorithm().getAlgorithm().getId());
    if (algorithm == null || request.getSignatureAlgorithm().getParameters() != null
        && !(request.getSignatureAlgorithm().getParameters() instanceof org.bouncycastle.asn1.ASN1Null)) {
      return new Problem(INVALID_SIGNATURE, field + " is signed with " + request.getSignatureAlgorithm()
          .getAlgorithm().getId() + "; accepted are ECDSA and RSA (PKCS#1 v1.5) with SHA-256, SHA-384 or SHA-512,"
          + " as the kubelet signs it");
    }
    if (request.getSignature().getPadBits() != 0) {
      return malformed(field, "the signature is not a whole number of bytes");
    }
    // The signature covers the request info as it was sent: its bytes, not a re-encoding.
    int[] info = DerLimits.firstChild(der, 0);
    try {
      Signature verifier = Signature.getInstance(algorithm, Crypto.PROVIDER);
      verifier.initVerify(found.key());
      verifier.update(der, info[0], info[1]);
      if (verifier.verify(request.getSignature().getOctets())) {
        return found;
      }
    } catch (GeneralSecurityException | RuntimeException e) {
      // falls through: not verified
    }
    return new Problem(INVALID_SIGNATURE, field + "'s signature does not verify with its public key (no proof of"
        + " possession of the key)");
  }

  /** The key of {@code spec.pkixPublicKey}, with the proof of possession over {@code podUid} checked. */
  public static Result fromPkix(String pkixBase64, String proofBase64, String podUid) {
    String field = "spec.pkixPublicKey";
    Decoded decoded = decode(pkixBase64, field);
    if (decoded.problem != null) {
      return decoded.problem;
    }
    Decoded proof = decode(proofBase64, "spec.proofOfPossession");
    if (proof.problem != null) {
      return proof.problem;
    }
    byte[] der = decoded.bytes;
    Optional<String> shape = SHAPE.problem(der);
    if (shape.isPresent()) {
      return malformed(field, shape.get());
    }
    SubjectPublicKeyInfo spki;
    try (ASN1InputStream in = new ASN1InputStream(new ByteArrayInputStream(der), der.length)) {
      spki = SubjectPublicKeyInfo.getInstance(in.readObject());
    } catch (IOException | RuntimeException e) {
      return malformed(field, e.getClass().getSimpleName());
    }
    Result key = key(spki, field);
    if (!(key instanceof Key found)) {
      return key;
    }
    byte[] uid = (podUid == null ? "" : podUid).getBytes(StandardCharsets.UTF_8);
    if (proofVerifies(found.key(), uid, proof.bytes)) {
      return found;
    }
    return new Problem(INVALID_SIGNATURE, "spec.proofOfPossession does not verify with spec.pkixPublicKey over the"
        + " Pod UID (no proof of possession of the key)");
  }

  /**
   * The proof as the kubelet of 1.35 makes it: ECDSA over SHA-256 of the UID in ASN.1 form, or
   * RSA-PSS with SHA-256 and MGF1-SHA-256 (Go's automatic salt length: the longest when signing, any
   * when verifying; the longest and the hash's length are tried).
   */
  private static boolean proofVerifies(PublicKey key, byte[] uid, byte[] proof) {
    try {
      if (key instanceof java.security.interfaces.ECPublicKey) {
        Signature verifier = Signature.getInstance("SHA256withECDSA", Crypto.PROVIDER);
        verifier.initVerify(key);
        verifier.update(uid);
        return verifier.verify(proof);
      }
      if (key instanceof java.security.interfaces.RSAPublicKey rsa) {
        int emLength = (rsa.getModulus().bitLength() - 1 + 7) / 8;
        for (int salt : new int[] {emLength - 32 - 2, 32}) {
          Signature verifier = Signature.getInstance("RSASSA-PSS");
          verifier.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, salt, 1));
          verifier.initVerify(key);
          verifier.update(uid);
          if (verifier.verify(proof)) {
            return true;
          }
        }
      }
      return false;
    } catch (GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  /**
   * The key of {@code spki} if this signer issues for it: the type from the algorithm identifier,
   * an RSA modulus's size from its encoding, both before the key is decoded.
   */
  private static Result key(SubjectPublicKeyInfo spki, String field) {
    if (spki == null || spki.getAlgorithm() == null || spki.getPublicKeyData() == null) {
      return malformed(field, "the public key is missing");
    }
    if (spki.getPublicKeyData().getPadBits() != 0) {
      return malformed(field, "the public key is not a whole number of bytes");
    }
    String algorithm;
    if (spki.getAlgorithm().getAlgorithm().equals(X9ObjectIdentifiers.id_ecPublicKey)) {
      algorithm = "EC";
      Optional<RequestRules.Violation> curve = RequestRules.keyProblem(spki, null);
      if (curve.isPresent()) {
        return unsupported(curve.get());
      }
    } else if (spki.getAlgorithm().getAlgorithm().equals(PKCSObjectIdentifiers.rsaEncryption)) {
      algorithm = "RSA";
      byte[] inner = spki.getPublicKeyData().getOctets();
      if (DerLimits.of(Integer.MAX_VALUE, 2).encoding(DerLimits.Encoding.DER).problem(inner).isPresent()) {
        return malformed(field, "the RSA public key is not a DER sequence of two integers");
      }
      int bits;
      try {
        bits = org.bouncycastle.asn1.pkcs.RSAPublicKey.getInstance(inner).getModulus().bitLength();
      } catch (RuntimeException e) {
        return malformed(field, "the RSA public key does not parse");
      }
      if (bits < RequestRules.MIN_RSA_BITS || bits > RequestRules.MAX_RSA_BITS) {
        return unsupported(new RequestRules.Violation(PodCertificateRules.UNSUPPORTED_KEY_TYPE, "the RSA key has " + bits + " bits"));
      }
    } else {
      return unsupported(RequestRules.keyProblem(spki, null).orElseThrow());
    }
    PublicKey key;
    try {
      key = KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(spki.getEncoded("DER")));
    } catch (GeneralSecurityException | IOException | RuntimeException e) {
      return malformed(field, "the " + algorithm + " public key does not decode");
    }
    Optional<RequestRules.Violation> rules = RequestRules.keyProblem(spki, key);
    if (rules.isPresent()) {
      return unsupported(rules.get());
    }
    return new Key(key, spki, field);
  }

  private static Problem unsupported(RequestRules.Violation violation) {
    String detail = violation.message();
    int cut = detail.indexOf("; use ");
    return new Problem(PodCertificateRules.UNSUPPORTED_KEY_TYPE, (cut < 0 ? detail : detail.substring(0, cut)) + "; " + SUPPORTED
        + ": set the podCertificate volume's keyType to one of them");
  }

  private static Problem malformed(String field, String what) {
    return new Problem(MALFORMED_REQUEST, field + " is not well-formed DER as the API defines it (" + what + ")");
  }

  private record Decoded(byte[] bytes, Problem problem) {
  }

  /** Base64 text to bytes, refusing text longer than {@link #MAX_BYTES} bytes need before decoding. */
  private static Decoded decode(String base64, String field) {
    if (base64 == null || base64.isEmpty()) {
      return new Decoded(null, new Problem(MALFORMED_REQUEST, field + " is empty"));
    }
    if (base64.length() > (MAX_BYTES + 2) / 3 * 4) {
      return new Decoded(null, new Problem(MALFORMED_REQUEST, field + " holds more than " + MAX_BYTES
          + " bytes (the API server's limit)"));
    }
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(base64);
    } catch (IllegalArgumentException e) {
      return new Decoded(null, new Problem(MALFORMED_REQUEST, field + " is not base64"));
    }
    if (bytes.length > MAX_BYTES) {
      return new Decoded(null, new Problem(MALFORMED_REQUEST, field + " holds " + bytes.length + " bytes; at most "
          + MAX_BYTES + " are accepted (the API server's limit)"));
    }
    return new Decoded(Arrays.copyOf(bytes, bytes.length), null);
  }
}
