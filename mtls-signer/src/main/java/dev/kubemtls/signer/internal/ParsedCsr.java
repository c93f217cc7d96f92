package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.DerLimits;
import dev.kubemtls.core.pki.Pem;
import java.io.IOException;
import java.net.InetAddress;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.net.UnknownHostException;
import java.security.PublicKey;
import java.security.interfaces.ECPublicKey;
import java.security.interfaces.RSAPublicKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;

/**
 * A PKCS#10 request read strictly from the PEM text of {@code spec.request}: the subject, the public
 * key, the subject alternative names sorted by kind, and what else its extension request asks for.
 * Parsing does not judge; {@link RequestRules}, {@link #signatureValid()} and the policy do.
 *
 * <p>One instance is made per CSR and carried from the approval to the signing: the signature is
 * checked at most once per instance ({@link #signatureValid()} remembers its answer), with a
 * {@link Signature} of {@link Crypto#PROVIDER} directly over the DER of the request info (no
 * operator layer), and only for the signature algorithms {@link RequestRules} allows. Instances are thread-safe.
 */
public final class ParsedCsr {

  /** Size and nesting limits of a request's DER, checked before BouncyCastle reads it. */
  private static final DerLimits REQUEST_LIMITS =
      DerLimits.of(DerLimits.MAX_REQUEST_BYTES, DerLimits.MAX_DEPTH).inspectingStrings();

  /** Kinds of public key the signer issues for. */
  public enum KeyKind { EC, RSA, ED25519, OTHER }

  private final PKCS10CertificationRequest request;
  private final PublicKey publicKey;
  private final GeneralNames subjectAltNames;
  private final List<String> dnsNames = new ArrayList<>();
  private final List<String> ipAddresses = new ArrayList<>();
  private final List<String> uris = new ArrayList<>();
  private final List<String> emails = new ArrayList<>();
  private final List<String> otherNames = new ArrayList<>();
  private final List<String> extensionOids = new ArrayList<>();
  private final boolean caRequested;
  /** Every SAN in request order, as {@code kind:value}, for the duplicate and count checks. */
  private final List<String> allNames = new ArrayList<>();
  /** IP address SANs in the 16-byte IPv4-mapped form ({@code ::ffff:a.b.c.d}). */
  private final List<String> mappedIpAddresses = new ArrayList<>();
  private volatile Boolean signatureValid;

  /** JCA names of the signature algorithms the signer accepts on a request, by OID. */
  static final Map<String, String> SIGNATURE_ALGORITHMS = Map.of(
      X9ObjectIdentifiers.ecdsa_with_SHA256.getId(), "SHA256withECDSA",
      X9ObjectIdentifiers.ecdsa_with_SHA384.getId(), "SHA384withECDSA",
      X9ObjectIdentifiers.ecdsa_with_SHA512.getId(), "SHA512withECDSA",
      PKCSObjectIdentifiers.sha256WithRSAEncryption.getId(), "SHA256withRSA",
      PKCSObjectIdentifiers.sha384WithRSAEncryption.getId(), "SHA384withRSA",
      PKCSObjectIdentifiers.sha512WithRSAEncryption.getId(), "SHA512withRSA");

  private ParsedCsr(PKCS10CertificationRequest request, PublicKey publicKey, GeneralNames sans,
      boolean caRequested) {
    this.request = request;
    this.publicKey = publicKey;
    this.subjectAltNames = sans;
    this.caRequested = caRequested;
  }

  /**
   * Parses the PEM text of a CSR.
   *
   * @throws InvalidMaterialException naming what is malformed
   */
  public static ParsedCsr parse(String pem) {
    List<Pem.Block> blocks = Pem.blocks(pem, "spec.request");
    if (blocks.size() != 1 || !blocks.get(0).type().equals("CERTIFICATE REQUEST")) {
      throw new InvalidMaterialException("spec.request must hold exactly one CERTIFICATE REQUEST PEM block, found "
          + blocks.stream().map(Pem.Block::type).toList());
    }
    byte[] der = blocks.get(0).der();
    // Size and nesting first: BouncyCastle's parser recurses per level and reads any length.
    REQUEST_LIMITS.check(der, "spec.request");
    JcaPKCS10CertificationRequest request;
    PublicKey key = null;
    try {
      request = new JcaPKCS10CertificationRequest(der).setProvider(Crypto.PROVIDER);
    } catch (IOException | RuntimeException e) {
      throw new InvalidMaterialException("spec.request is not a valid PKCS#10 request ("
          + e.getClass().getSimpleName() + ")", e);
    }
    // The key is decoded only when its encoding shows a kind and size the signer issues for: decoding
    // an RSA key runs probabilistic primality tests on the modulus (BouncyCastle's key validation),
    // which for a huge modulus costs seconds of a worker's time before anything was decided.
    if (RequestRules.encodedKeyProblem(request.getSubjectPublicKeyInfo()).isEmpty()) {
      try {
        // Decoded by BouncyCastle: a key of its own classes verifies without converting the curve's
        // parameters (and losing the generator's precomputed tables) per signature check.
        key = request.getPublicKey();
      } catch (RuntimeException | java.security.GeneralSecurityException e) {
        throw new InvalidMaterialException("spec.request: the public key does not decode ("
            + e.getClass().getSimpleName() + ")", e);
      }
    }
    try {
      // BouncyCastle reads the parts of a name only when they are asked for; read them all now, so
      // that a malformed subject is a malformed request and not an exception in the policy.
      for (RDN rdn : request.getSubject().getRDNs()) {
        rdn.getTypesAndValues();
      }
      request.getSubject().toString();
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new InvalidMaterialException("spec.request: the subject does not parse (" + e.getMessage() + ")", e);
    }
    Extensions extensions = null;
    Attribute[] attributes = request.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest);
    if (attributes.length > 1) {
      throw new InvalidMaterialException("spec.request holds " + attributes.length + " extension requests");
    }
    GeneralNames sans = null;
    boolean ca = false;
    List<String> oids = new ArrayList<>();
    if (attributes.length == 1) {
      try {
        ASN1Encodable[] values = attributes[0].getAttributeValues();
        if (values.length != 1) {
          throw new InvalidMaterialException("spec.request: the extension request holds " + values.length + " values");
        }
        extensions = Extensions.getInstance(values[0]);
        for (ASN1ObjectIdentifier oid : extensions.getExtensionOIDs()) {
          oids.add(oid.getId());
        }
        Extension san = extensions.getExtension(Extension.subjectAlternativeName);
        if (san != null) {
          sans = GeneralNames.getInstance(san.getParsedValue());
        }
        Extension bc = extensions.getExtension(Extension.basicConstraints);
        if (bc != null) {
          ca = BasicConstraints.getInstance(bc.getParsedValue()).isCA();
        }
      } catch (IllegalArgumentException | IllegalStateException e) {
        throw new InvalidMaterialException("spec.request: the extension request does not parse ("
            + e.getMessage() + ")", e);
      }
    }
    ParsedCsr parsed = new ParsedCsr(request, key, sans, ca);
    parsed.extensionOids.addAll(oids);
    if (sans != null) {
      for (GeneralName name : sans.getNames()) {
        parsed.addName(name);
      }
    }
    return parsed;
  }

  private void addName(GeneralName name) {
    switch (name.getTagNo()) {
      case GeneralName.dNSName -> {
        dnsNames.add(name.getName().toString());
        allNames.add("dns:" + name.getName());
      }
      case GeneralName.uniformResourceIdentifier -> {
        uris.add(name.getName().toString());
        allNames.add("uri:" + name.getName());
      }
      case GeneralName.rfc822Name -> {
        emails.add(name.getName().toString());
        allNames.add("email:" + name.getName());
      }
      case GeneralName.iPAddress -> {
        byte[] octets = ASN1OctetString.getInstance(name.getName()).getOctets();
        if (octets.length != 4 && octets.length != 16) {
          throw new InvalidMaterialException("spec.request: an IP address SAN has " + octets.length + " bytes");
        }
        String text;
        if (ipv4Mapped(octets)) {
          // InetAddress turns these 16 bytes into an Inet4Address, so its text would be the IPv4
          // form while the certificate would hold the IPv6 one: keep the 16-byte form visible.
          text = "::ffff:" + (octets[12] & 0xff) + "." + (octets[13] & 0xff) + "." + (octets[14] & 0xff) + "."
              + (octets[15] & 0xff);
          mappedIpAddresses.add(text);
        } else {
          try {
            text = InetAddress.getByAddress(octets).getHostAddress();
          } catch (UnknownHostException e) {
            throw new InvalidMaterialException("spec.request: an IP address SAN does not parse", e);
          }
        }
        ipAddresses.add(text);
        allNames.add("ip:" + text);
      }
      default -> {
        otherNames.add("tag " + name.getTagNo());
        allNames.add("other:" + name.getTagNo() + ":" + name.getName());
      }
    }
  }

  private static boolean ipv4Mapped(byte[] octets) {
    if (octets.length != 16) {
      return false;
    }
    for (int i = 0; i < 10; i++) {
      if (octets[i] != 0) {
        return false;
      }
    }
    return octets[10] == (byte) 0xff && octets[11] == (byte) 0xff;
  }

  /**
   * Whether the request is signed by the private key of its public key (proof of possession). The
   * check runs once per instance; only the algorithms of {@link #signatureAlgorithmName()} verify.
   */
  public boolean signatureValid() {
    Boolean known = signatureValid;
    if (known == null) {
      known = verify();
      signatureValid = known;
    }
    return known;
  }

  private boolean verify() {
    String algorithm = signatureAlgorithmName();
    if (algorithm == null) {
      return false;
    }
    if (publicKey == null) {
      // A key of a kind or size the signer does not issue for is never decoded, so never verified.
      return false;
    }
    try {
      byte[] info = request.toASN1Structure().getCertificationRequestInfo().getEncoded(ASN1Encoding.DER);
      byte[] signature = request.getSignature();
      // Natively when ACCP is present (Crypto#NATIVE): the key is decoded again there from the request's
      // SubjectPublicKeyInfo, which BouncyCastle's decoding already accepted.
      KeyKind kind = keyKind();
      PublicKey nativeKey = kind == KeyKind.EC || kind == KeyKind.RSA
          ? Crypto.nativePublicKey(kind.name(), request.getSubjectPublicKeyInfo().getEncoded(ASN1Encoding.DER))
          : null;
      if (nativeKey != null) {
        Signature verifier = Signature.getInstance(algorithm, Crypto.NATIVE);
        verifier.initVerify(nativeKey);
        verifier.update(info);
        return verifier.verify(signature);
      }
      Signature verifier = Signature.getInstance(algorithm, Crypto.PROVIDER);
      verifier.initVerify(publicKey);
      verifier.update(info);
      return verifier.verify(signature);
    } catch (GeneralSecurityException | IOException | RuntimeException e) {
      return false;
    }
  }

  /** The OID of the request's signature algorithm. */
  public String signatureAlgorithmOid() {
    return request.getSignatureAlgorithm().getAlgorithm().getId();
  }

  /** The JCA name of the request's signature algorithm if the signer accepts it, else null. */
  public String signatureAlgorithmName() {
    return SIGNATURE_ALGORITHMS.get(signatureAlgorithmOid());
  }

  /** The request's SubjectPublicKeyInfo. */
  public SubjectPublicKeyInfo subjectPublicKeyInfo() {
    return request.getSubjectPublicKeyInfo();
  }

  /** Every SAN in request order as {@code kind:value} ({@code dns:}, {@code ip:}, {@code uri:}, ...). */
  public List<String> allNames() {
    return List.copyOf(allNames);
  }

  /** IP address SANs in the IPv4-mapped IPv6 form, as {@code ::ffff:a.b.c.d}. */
  public List<String> mappedIpAddresses() {
    return List.copyOf(mappedIpAddresses);
  }

  /** The BouncyCastle request. */
  public PKCS10CertificationRequest request() {
    return request;
  }

  /**
   * The decoded public key, or null when its encoding already shows a key the signer does not issue
   * for ({@link RequestRules#encodedKeyProblem}): such a key is never decoded.
   */
  public PublicKey publicKey() {
    return publicKey;
  }

  /** The kind of key, from the algorithm OID of the encoded key (no decoding needed). */
  public KeyKind keyKind() {
    ASN1ObjectIdentifier oid = subjectPublicKeyInfo().getAlgorithm().getAlgorithm();
    if (oid.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
      return KeyKind.EC;
    }
    if (oid.equals(PKCSObjectIdentifiers.rsaEncryption)) {
      return KeyKind.RSA;
    }
    return oid.equals(org.bouncycastle.asn1.edec.EdECObjectIdentifiers.id_Ed25519) ? KeyKind.ED25519 : KeyKind.OTHER;
  }

  public X500Name subject() {
    return request.getSubject();
  }

  /** The subjectAltName extension exactly as requested, or null when there is none. */
  public GeneralNames subjectAltNames() {
    return subjectAltNames;
  }

  public List<String> dnsNames() {
    return List.copyOf(dnsNames);
  }

  /**
   * IP address SANs in their canonical text form; an IPv4-mapped IPv6 address keeps its
   * {@code ::ffff:a.b.c.d} form (see {@link #mappedIpAddresses()}).
   */
  public List<String> ipAddresses() {
    return List.copyOf(ipAddresses);
  }

  public List<String> uris() {
    return List.copyOf(uris);
  }

  public List<String> emails() {
    return List.copyOf(emails);
  }

  /** SANs of kinds other than DNS, IP, URI and email (other name, directory name, ...). */
  public List<String> otherNames() {
    return List.copyOf(otherNames);
  }

  /** The OIDs of every extension in the extension request. */
  public List<String> extensionOids() {
    return List.copyOf(extensionOids);
  }

  /** Whether the extension request asks for basicConstraints CA=true. */
  public boolean caRequested() {
    return caRequested;
  }

  @Override
  public String toString() {
    return "CSR[subject=" + Objects.toString(subject()) + ", dns=" + dnsNames + ", ip=" + ipAddresses
        + ", uri=" + uris + "]";
  }
}
