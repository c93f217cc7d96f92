package dev.kubemtls.signer.internal;

import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.core.names.Usages;
import java.security.interfaces.RSAPublicKey;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.edec.EdECObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x9.ECNamedCurveTable;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.operator.DefaultAlgorithmNameFinder;

/**
 * The checks of a request's own make-up that both the approver and the CA apply, so that they
 * cannot disagree: the key (EC P-256 or P-384, or RSA of 2048 to 8192 bits), the signature algorithm
 * (ECDSA or RSA PKCS#1 v1.5 with SHA-256, SHA-384 or SHA-512), the proof of possession, no CA, at
 * most a number of SANs, no SAN twice, no IPv4-mapped IPv6 address. The reasons are those of
 * {@link ApprovalDecision}; every message is bounded ({@link Bounded}).
 *
 * <p>Ed25519 keys are refused: kube-mtls has not verified that every integration (Netty with
 * OpenSSL, Netty with the JDK provider, Jetty) completes a handshake with an Ed25519 leaf, and a
 * certificate that some peers cannot use is worse than a denial that says what to use instead.
 */
public final class RequestRules {

  /** Checks a signer name as {@code --signer-name} needs it: the API server's rule, no kubernetes.io names. */
  public static String requireSignerName(String signerName) {
    Objects.requireNonNull(signerName, "--signer-name");
    try {
      return SignerNames.require(signerName, false);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--signer-name" + ": " + e.getMessage(), e);
    }
  }

  /** The most SANs any configuration may allow; the CA refuses more whatever the policy says. */
  public static final int MAX_NAMES_CEILING = 256;
  /** The default SAN cap; see the signer README (15 Services x 4 DNS forms, 2 Pod IPs, 1 SPIFFE ID and some room). */
  public static final int DEFAULT_MAX_NAMES = 64;
  /** The smallest RSA modulus accepted. */
  public static final int MIN_RSA_BITS = 2048;
  /** The largest RSA modulus accepted (bigger keys only cost verification time). */
  public static final int MAX_RSA_BITS = 8192;

  /** A rule the request breaks: the reason and a short message. */
  public record Violation(String reason, String message) {}

  private RequestRules() {}

  /** The first rule {@code csr} breaks, in the order key, signature algorithm, proof of possession, CA, names. */
  public static Optional<Violation> check(ParsedCsr csr, int maxNames) {
    Optional<Violation> v = keyProblem(csr);
    if (v.isPresent()) {
      return v;
    }
    if (csr.signatureAlgorithmName() == null) {
      return Optional.of(new Violation(ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED,
          "the request is signed with " + algorithmName(csr.request().getSignatureAlgorithm())
              + "; accepted are ECDSA and RSA (PKCS#1 v1.5) with SHA-256, SHA-384 or SHA-512: sign the request"
              + " with one of them"));
    }
    if (!csr.signatureValid()) {
      return Optional.of(new Violation(ApprovalDecision.INVALID_SIGNATURE,
          "the request's signature does not verify with its public key (no proof of possession)"));
    }
    if (csr.caRequested()) {
      return Optional.of(new Violation(ApprovalDecision.CA_NOT_ALLOWED,
          "the request asks for a CA certificate (basicConstraints CA=true); this signer issues leaves only"));
    }
    return namesProblem(csr, maxNames);
  }

  /** What a lower-case RFC 1123 DNS name looks like (no wildcard). */
  public static final java.util.regex.Pattern DNS_NAME =
      java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

  /** The prefix of every ServiceAccount's user name. */
  public static final String SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:";

  /**
   * The rules of a request's names, subject and usages that do not depend on who asked, applied by
   * the approver and again by the CA whoever approved: only the usages digital signature, key
   * encipherment (RSA keys only), server auth and client auth, and at least one of server auth and
   * client auth (a certificate without an extended key usage would be valid for every purpose); no
   * email or other exotic SAN; at most one URI SAN, a {@code spiffe://} ID; no wildcard; DNS names in
   * lower-case RFC 1123 form; at least one name; a subject that is empty or one common name equal to a
   * requested name or a ServiceAccount's user name. The requester-specific rules (whose SPIFFE ID,
   * whose names, whose user name) are the {@code ApprovalPolicy}'s.
   */
  public static Optional<Violation> shapeProblem(ParsedCsr csr, List<String> usages) {
    List<String> unexpected = new java.util.ArrayList<>(Usages.unsupported(usages));
    if (usages.contains(Usages.KEY_ENCIPHERMENT) && csr.keyKind() != ParsedCsr.KeyKind.RSA) {
      unexpected.add(Usages.KEY_ENCIPHERMENT + " (only for RSA keys)");
    }
    if (!unexpected.isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.UNEXPECTED_USAGE, "usages not allowed: "
          + Bounded.list(unexpected) + "; allowed are " + List.of(Usages.DIGITAL_SIGNATURE, Usages.KEY_ENCIPHERMENT,
          Usages.SERVER_AUTH, Usages.CLIENT_AUTH)));
    }
    if (!usages.contains(Usages.SERVER_AUTH) && !usages.contains(Usages.CLIENT_AUTH)) {
      return Optional.of(new Violation(ApprovalDecision.UNEXPECTED_USAGE, "the usages " + Bounded.list(usages)
          + " name no extended key usage; request '" + Usages.SERVER_AUTH + "', '" + Usages.CLIENT_AUTH
          + "' or both (a certificate without one would be valid for any purpose)"));
    }
    if (!csr.emails().isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.EMAIL_NOT_ALLOWED, "email SANs are not issued: "
          + Bounded.list(csr.emails())));
    }
    if (!csr.otherNames().isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.UNSUPPORTED_NAME,
          "only DNS, IP and SPIFFE URI SANs are issued; found " + Bounded.list(csr.otherNames())));
    }
    if (csr.uris().size() > 1 || (csr.uris().size() == 1 && !csr.uris().get(0).startsWith("spiffe://"))) {
      return Optional.of(new Violation(ApprovalDecision.SPIFFE_ID_MISMATCH,
          "the only URI SAN allowed is one SPIFFE ID; found " + Bounded.list(csr.uris())));
    }
    List<String> wildcards = csr.dnsNames().stream().filter(n -> n.contains("*")).toList();
    if (!wildcards.isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.WILDCARD_NOT_ALLOWED, "wildcard DNS names are not issued: "
          + Bounded.list(wildcards)));
    }
    List<String> malformed = csr.dnsNames().stream()
        .filter(n -> n.length() > 253 || !DNS_NAME.matcher(n).matches()).toList();
    if (!malformed.isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.UNAUTHORIZED_DNS_NAME,
          "DNS names must be lower-case RFC 1123 names: " + Bounded.list(malformed)));
    }
    Set<String> names = names(csr);
    if (names.isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.NO_IDENTITY,
          "the request names no SPIFFE ID, DNS name or IP address"));
    }
    Optional<String> cn;
    try {
      cn = commonName(csr);
    } catch (IllegalArgumentException e) {
      return Optional.of(new Violation(ApprovalDecision.SUBJECT_NOT_ALLOWED, e.getMessage()));
    }
    if (cn.isPresent() && !names.contains(cn.get()) && !cn.get().startsWith(SERVICE_ACCOUNT_USER_PREFIX)) {
      return Optional.of(new Violation(ApprovalDecision.SUBJECT_NOT_ALLOWED, "the subject common name '"
          + Bounded.clip(cn.get(), Bounded.ITEM_CHARS) + "' must be a ServiceAccount's user name or one of the"
          + " requested names " + Bounded.list(names)));
    }
    return Optional.empty();
  }

  /** The DNS names, IP addresses and URIs of {@code csr}, in that order. */
  public static Set<String> names(ParsedCsr csr) {
    Set<String> names = new LinkedHashSet<>();
    names.addAll(csr.dnsNames());
    names.addAll(csr.ipAddresses());
    names.addAll(csr.uris());
    return names;
  }

  /**
   * The subject's common name; empty for an empty subject.
   *
   * @throws IllegalArgumentException with the message for a subject that is more than one common name
   */
  public static Optional<String> commonName(ParsedCsr csr) {
    org.bouncycastle.asn1.x500.RDN[] rdns = csr.subject().getRDNs();
    if (rdns.length == 0) {
      return Optional.empty();
    }
    if (rdns.length > 1 || rdns[0].isMultiValued()
        || !rdns[0].getFirst().getType().equals(org.bouncycastle.asn1.x500.style.BCStyle.CN)) {
      throw new IllegalArgumentException("the subject may only be a single common name; found '"
          + Bounded.clip(csr.subject().toString(), Bounded.ITEM_CHARS) + "'");
    }
    ASN1Encodable value = rdns[0].getFirst().getValue();
    return Optional.of(value instanceof org.bouncycastle.asn1.ASN1String s ? s.getString() : value.toString());
  }

  /** The SAN count, duplicate and IPv4-mapped checks alone. */
  public static Optional<Violation> namesProblem(ParsedCsr csr, int maxNames) {
    List<String> all = csr.allNames();
    if (all.size() > maxNames) {
      return Optional.of(new Violation(ApprovalDecision.TOO_MANY_NAMES, "the request holds " + all.size()
          + " subject alternative names; at most " + maxNames + " are issued"));
    }
    Set<String> seen = new LinkedHashSet<>();
    Set<String> duplicates = new LinkedHashSet<>();
    for (String name : all) {
      if (!seen.add(name)) {
        duplicates.add(name);
      }
    }
    if (!duplicates.isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.DUPLICATE_NAME,
          "the request names these subject alternative names more than once: " + Bounded.list(duplicates)
              + "; name each once"));
    }
    if (!csr.mappedIpAddresses().isEmpty()) {
      return Optional.of(new Violation(ApprovalDecision.MAPPED_IP_ADDRESS, "IPv4-mapped IPv6 addresses are not"
          + " issued (peers compare them inconsistently with the IPv4 address): " + Bounded.list(csr.mappedIpAddresses())
          + "; request the 4-byte IPv4 address instead"));
    }
    return Optional.empty();
  }

  private static Optional<Violation> keyProblem(ParsedCsr csr) {
    return keyProblem(csr.subjectPublicKeyInfo(), csr.publicKey());
  }

  /**
   * Whether a public key is one this signer issues for: EC P-256 or P-384 with a named curve, or RSA
   * of {@value #MIN_RSA_BITS} to {@value #MAX_RSA_BITS} bits. Shared by CSRs and
   * PodCertificateRequests.
   *
   * @param spki the key as encoded in the request
   * @param key  the same key decoded, or null when it does not decode
   */
  public static Optional<Violation> keyProblem(org.bouncycastle.asn1.x509.SubjectPublicKeyInfo spki,
      java.security.PublicKey key) {
    Optional<Violation> encoded = encodedKeyProblem(spki);
    if (encoded.isPresent()) {
      return encoded;
    }
    if (spki.getAlgorithm().getAlgorithm().equals(PKCSObjectIdentifiers.rsaEncryption)
        && !(key instanceof RSAPublicKey)) {
      return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED, "the RSA key does not parse" + HINT));
    }
    return Optional.empty();
  }

  private static final String HINT = "; use EC P-256 (the default), EC P-384 or RSA with 2048 to " + MAX_RSA_BITS
      + " bits";

  /**
   * {@link #keyProblem} from the encoded key alone, before anything decodes it: the algorithm, the
   * named curve, and an RSA modulus's size read from its ASN.1 INTEGER (no primality or other
   * validation runs). Call it first; decode the key only when it finds nothing.
   */
  public static Optional<Violation> encodedKeyProblem(org.bouncycastle.asn1.x509.SubjectPublicKeyInfo spki) {
    AlgorithmIdentifier alg = spki.getAlgorithm();
    ASN1ObjectIdentifier oid = alg.getAlgorithm();
    String hint = "; use EC P-256 (the default), EC P-384 or RSA with 2048 to " + MAX_RSA_BITS + " bits";
    if (oid.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
      ASN1Encodable params = alg.getParameters();
      if (!(params instanceof ASN1ObjectIdentifier curve)) {
        return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED,
            "the EC key does not name its curve (explicit curve parameters)" + hint));
      }
      if (curve.equals(SECObjectIdentifiers.secp256r1) || curve.equals(SECObjectIdentifiers.secp384r1)) {
        return Optional.empty();
      }
      String name = ECNamedCurveTable.getName(curve);
      return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED,
          "the EC curve " + (name == null ? curve.getId() : name + " (" + curve.getId() + ")") + " is not issued" + hint));
    }
    if (oid.equals(PKCSObjectIdentifiers.rsaEncryption)) {
      int bits;
      try {
        // Only the two INTEGERs are read; BouncyCastle's RSAPublicKey structure validates nothing.
        bits = org.bouncycastle.asn1.pkcs.RSAPublicKey.getInstance(spki.parsePublicKey()).getModulus().bitLength();
      } catch (java.io.IOException | RuntimeException e) {
        return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED, "the RSA key does not parse" + hint));
      }
      if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
        return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED,
            "the RSA key has " + bits + " bits" + hint));
      }
      return Optional.empty();
    }
    if (oid.equals(EdECObjectIdentifiers.id_Ed25519)) {
      return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED,
          "Ed25519 keys are not issued (not every kube-mtls TLS integration accepts them)" + hint));
    }
    return Optional.of(new Violation(ApprovalDecision.KEY_NOT_ALLOWED,
        "keys of algorithm " + algorithmName(alg) + " are not issued" + hint));
  }

  private static String algorithmName(AlgorithmIdentifier alg) {
    String oid = alg.getAlgorithm().getId();
    String name = new DefaultAlgorithmNameFinder().getAlgorithmName(alg.getAlgorithm());
    return name == null || name.equals(oid) ? oid : name + " (" + oid + ")";
  }
}
