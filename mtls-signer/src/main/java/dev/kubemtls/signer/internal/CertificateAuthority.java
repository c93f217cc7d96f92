package dev.kubemtls.signer.internal;

import dev.kubemtls.core.names.Usages;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.CertificateChecks;
import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.api.model.Secret;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority held in memory: one CA key and its certificate, and the pure crypto that
 * turns an approved PKCS#10 request into a leaf certificate.
 *
 * <p>The CA usually comes from a {@code kubernetes.io/tls} Secret ({@link #fromSecret}); it is
 * checked when loaded (a CA certificate, currently valid, whose key matches) and never changes
 * afterwards: a CA rotation creates a new instance. Time comes from the injected
 * {@link InstantSource} and serial numbers from the injected {@link SecureRandom}, so tests decide
 * both.
 *
 * <p>What {@link #sign} issues follows kube-controller-manager's signer, and does at least as well:
 * the lifetime is the request's {@code expirationSeconds} clamped by a {@link ValidityPolicy},
 * {@code notBefore} is backdated but never before the CA's {@code notBefore}, {@code notAfter} never
 * passes the CA's, the serial is a random positive number of up to 128 bits, the certificate is
 * never a CA, carries SKI and an AKI of the key identifier alone, key usage digital signature (plus
 * key encipherment for RSA keys when requested) and always an extended key usage: server auth, client
 * auth or both, from the request's usages. The subject and the subject alternative names are copied
 * from the request, after the CA has checked again, whoever approved the request, every rule of a
 * request's make-up and names that does not depend on who asked ({@code RequestRules}: key,
 * signature, proof of possession, no CA, SAN count and kinds, one SPIFFE URI at most, no wildcard,
 * DNS syntax, a subject that is empty or one common name, usages with an EKU). Whether the requester
 * may hold the names is the approval policy's decision, which the signer's controller makes again
 * before it signs a request that another party approved.
 *
 * <p>A generated CA ({@link #generate}) has basicConstraints CA with path length 0 (critical), key
 * usage keyCertSign and cRLSign only (critical), SKI, and an AKI of the key identifier alone. It
 * carries no name constraints, on purpose: the names this signer issues have no common suffix to
 * permit (the short Service forms {@code svc.ns} end in any namespace name, Pod IPs come from ranges
 * the signer is not told and that change), so a permitted subtree would have to be so wide that it
 * restricts nothing; and the CA is a private one that only kube-mtls peers trust, which accept only
 * what this signer's own approval and CA rules let through. Excluded subtrees (e.g. public DNS) would
 * guard against a stolen CA key, but clients that do not enforce name constraints on URI SANs
 * (the SPIFFE ID is what kube-mtls peers authorize) would gain nothing from it.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class CertificateAuthority {

  /** The key of a {@code kubernetes.io/tls} Secret that holds the certificate (chain). */
  public static final String TLS_CERT_KEY = "tls.crt";
  /** The key of a {@code kubernetes.io/tls} Secret that holds the private key. */
  public static final String TLS_KEY_KEY = "tls.key";

  private final X509Certificate certificate;
  private final PrivateKey privateKey;
  /** {@link #privateKey} in the form that signs fastest, with its provider ({@link Crypto#signingKey}). */
  private final Crypto.SigningKey signingKey;
  /** The issuer of every leaf: the CA certificate's subject, read once. */
  private final X500Name issuerName;
  private final InstantSource clock;
  private final SecureRandom random;
  private final ValidityPolicy validity;
  private final String signatureAlgorithm;
  /** The authority key identifier of every leaf, computed once. */
  private final org.bouncycastle.asn1.x509.AuthorityKeyIdentifier authorityKeyIdentifier;

  private CertificateAuthority(X509Certificate certificate, PrivateKey privateKey, InstantSource clock,
      SecureRandom random, ValidityPolicy validity) {
    this.certificate = certificate;
    this.privateKey = privateKey;
    this.signingKey = Crypto.signingKey(privateKey);
    this.issuerName = X500Name.getInstance(certificate.getSubjectX500Principal().getEncoded());
    this.clock = clock;
    this.random = random;
    this.validity = validity;
    this.signatureAlgorithm = signatureAlgorithm(privateKey);
    try {
      this.authorityKeyIdentifier = authorityKeyIdentifierFor(certificate);
    } catch (GeneralSecurityException | RuntimeException e) {
      throw new InvalidMaterialException("cannot compute the key identifier of the CA certificate "
          + certificate.getSubjectX500Principal().getName(), e);
    }
  }

  /**
   * The AKI of the leaves this CA signs: the key identifier alone, equal to the CA certificate's
   * subject key identifier (computed from its key when it has none). Not the issuer name and serial
   * number as well: those would pin each leaf to this one CA certificate, so a CA certificate renewed
   * or cross-signed for the same key would no longer be found as the leaf's issuer by path builders
   * that honour the AKI.
   */
  static org.bouncycastle.asn1.x509.AuthorityKeyIdentifier authorityKeyIdentifierFor(X509Certificate ca)
      throws GeneralSecurityException {
    byte[] ext = ca.getExtensionValue(Extension.subjectKeyIdentifier.getId());
    byte[] keyId;
    if (ext != null) {
      keyId = org.bouncycastle.asn1.x509.SubjectKeyIdentifier.getInstance(
          org.bouncycastle.asn1.ASN1OctetString.getInstance(ext).getOctets()).getKeyIdentifier();
    } else {
      keyId = new JcaX509ExtensionUtils().createSubjectKeyIdentifier(ca.getPublicKey()).getKeyIdentifier();
    }
    return new org.bouncycastle.asn1.x509.AuthorityKeyIdentifier(keyId);
  }

  /**
   * Loads the CA from a {@code kubernetes.io/tls} Secret.
   *
   * @throws InvalidMaterialException if the Secret has another type, lacks {@code tls.crt} or
   *     {@code tls.key}, holds malformed PEM, a certificate that is not a CA, a key that does not
   *     match it, or a certificate that is expired or not yet valid
   */
  public static CertificateAuthority fromSecret(Secret secret, ValidityPolicy validity, InstantSource clock,
      SecureRandom random) {
    Objects.requireNonNull(secret, "secret");
    String what = "Secret " + secret.getMetadata().getNamespace() + "/" + secret.getMetadata().getName();
    if (!"kubernetes.io/tls".equals(secret.getType())) {
      throw new InvalidMaterialException(what + " has type '" + secret.getType()
          + "', expected kubernetes.io/tls with tls.crt and tls.key");
    }
    Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
    String cert = decode(data, TLS_CERT_KEY, what);
    String key = decode(data, TLS_KEY_KEY, what);
    return fromPem(cert, key, what, validity, clock, random);
  }

  /**
   * Loads the CA from PEM text: {@code certificatePem} starts with the CA certificate (further
   * certificates are ignored), {@code privateKeyPem} holds its key. {@code what} names the source
   * in error messages.
   *
   * @throws InvalidMaterialException as for {@link #fromSecret}
   */
  public static CertificateAuthority fromPem(String certificatePem, String privateKeyPem, String what,
      ValidityPolicy validity, InstantSource clock, SecureRandom random) {
    Objects.requireNonNull(what, "what");
    Objects.requireNonNull(validity, "validity");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(random, "random");
    // Pem checks the size and nesting of each block before a parser builds objects from it.
    X509Certificate cert = Pem.certificates(certificatePem, what + " " + TLS_CERT_KEY).get(0);
    PrivateKey key = Pem.privateKey(privateKeyPem, what + " " + TLS_KEY_KEY);
    CertificateChecks.requireCa(cert, what + ": the certificate in " + TLS_CERT_KEY);
    if (!CertificateChecks.keyMatches(cert.getPublicKey(), key)) {
      throw new InvalidMaterialException(what + ": " + TLS_KEY_KEY + " is not the private key of the certificate in "
          + TLS_CERT_KEY);
    }
    Instant now = clock.instant();
    if (now.isAfter(cert.getNotAfter().toInstant())) {
      throw new InvalidMaterialException(what + ": the CA certificate expired at " + cert.getNotAfter().toInstant());
    }
    if (now.isBefore(cert.getNotBefore().toInstant())) {
      throw new InvalidMaterialException(what + ": the CA certificate is not valid before "
          + cert.getNotBefore().toInstant());
    }
    try {
      return new CertificateAuthority(cert, key, clock, random, validity);
    } catch (IllegalArgumentException e) {
      // A key algorithm the CA cannot sign with (DSA, ...).
      throw new InvalidMaterialException(what + ": " + e.getMessage(), e);
    }
  }

  /**
   * Creates a new self-signed CA with an EC P-256 key: for tests, for bootstrapping a cluster and for
   * CA rotation. It is valid from now (minus one minute for skew) for {@code lifetime}.
   */
  public static CertificateAuthority generate(String commonName, Duration lifetime, ValidityPolicy validity,
      InstantSource clock, SecureRandom random) {
    Objects.requireNonNull(commonName, "commonName");
    Objects.requireNonNull(lifetime, "lifetime");
    Objects.requireNonNull(validity, "validity");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(random, "random");
    if (lifetime.isNegative() || lifetime.isZero()) {
      throw new IllegalArgumentException("lifetime must be positive, was " + lifetime);
    }
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
      generator.initialize(new ECGenParameterSpec("secp256r1"), random);
      KeyPair pair = generator.generateKeyPair();
      Instant now = clock.instant();
      X500Name name = new X500NameBuilder().addRDN(BCStyle.CN, commonName).build();
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, serial(random),
          CertificateTimes.of(now.minus(Duration.ofMinutes(1))), CertificateTimes.of(now.plus(lifetime)), name,
          pair.getPublic())
          // A CA that signs leaves only: path length 0, critical.
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
          // Certificate and CRL signing only: the CA key signs no TLS handshake or OCSP response.
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(pair.getPublic()))
          // Self-signed: the key identifier alone (RFC 5280 4.2.1.1), never issuer and serial.
          .addExtension(Extension.authorityKeyIdentifier, false,
              utils.createAuthorityKeyIdentifier(pair.getPublic()));
      // No name constraints: see the class comment.
      ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").setSecureRandom(random)
          .build(pair.getPrivate());
      X509Certificate cert = new JcaX509CertificateConverter().getCertificate(builder.build(signer));
      return new CertificateAuthority(cert, pair.getPrivate(), clock, random, validity);
    } catch (GeneralSecurityException | OperatorCreationException | CertIOException e) {
      throw new IllegalStateException("cannot generate a CA key and certificate", e);
    }
  }

  /** This CA with another validity policy. */
  public CertificateAuthority withValidity(ValidityPolicy newValidity) {
    return new CertificateAuthority(certificate, privateKey, clock, random, Objects.requireNonNull(newValidity));
  }

  /**
   * This CA as a {@code kubernetes.io/tls} Secret ({@code tls.crt}, {@code tls.key}): what the signer
   * reads at start, and what an operator writes to start a CA rotation.
   */
  public io.fabric8.kubernetes.api.model.Secret toSecret(String namespace, String name) {
    java.util.Base64.Encoder b64 = java.util.Base64.getEncoder();
    return new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withNamespace(namespace)
        .withName(name).endMetadata().withType("kubernetes.io/tls")
        .addToData(TLS_CERT_KEY, b64.encodeToString(certificatePem().getBytes(java.nio.charset.StandardCharsets.US_ASCII)))
        .addToData(TLS_KEY_KEY, b64.encodeToString(privateKeyPem().getBytes(java.nio.charset.StandardCharsets.US_ASCII)))
        .build();
  }

  /** The CA certificate with its key, as the CA rotation plan tracks it. */
  public CaRotation.CaKeyPair keyPair() {
    return new CaRotation.CaKeyPair(certificate, privateKey);
  }

  /** The CA certificate. */
  public X509Certificate certificate() {
    return certificate;
  }

  /** The validity policy for issued certificates. */
  public ValidityPolicy validity() {
    return validity;
  }

  /** The CA certificate as PEM, for a trust bundle or the {@code tls.crt} of a Secret. */
  public String certificatePem() {
    return Pem.encodeCertificates(List.of(certificate));
  }

  /**
   * The CA private key as PKCS#8 PEM, for the {@code tls.key} of a Secret when bootstrapping. Handle
   * with care: never log it.
   */
  public String privateKeyPem() {
    return Pem.encode("PRIVATE KEY", privateKey.getEncoded());
  }

  /**
   * Signs an approved request.
   *
   * @param requestPem        the PEM text of {@code spec.request}
   * @param usages            {@code spec.usages}
   * @param expirationSeconds {@code spec.expirationSeconds}, or null
   * @return the issued leaf certificate
   * @throws SigningException if the request is malformed, has a key or signature algorithm this CA
   *     does not accept, fails its signature check, asks for a CA, holds more than 256 SANs, a SAN
   *     twice or an IPv4-mapped IPv6 address, asks for a usage this CA does not issue, or if the CA
   *     has expired
   */
  public X509Certificate sign(String requestPem, List<String> usages, Integer expirationSeconds) {
    ParsedCsr csr;
    try {
      csr = ParsedCsr.parse(requestPem);
    } catch (InvalidMaterialException e) {
      throw new SigningException("MalformedRequest", e.getMessage(), e);
    }
    return sign(csr, usages, expirationSeconds);
  }

  /**
   * Signs an approved request that is already parsed, e.g. the one the approver just judged: its
   * signature is not checked again if that instance checked it already. The CA applies the same
   * rules of a request's make-up as the approver ({@code KeyNotAllowed},
   * {@code SignatureAlgorithmNotAllowed}, {@code InvalidSignature}, {@code CaNotAllowed},
   * {@code TooManyNames} above 256, {@code DuplicateName}, {@code MappedIpAddress}), so a request
   * approved by someone else cannot get around them.
   *
   * @throws SigningException as for {@link #sign(String, List, Integer)}
   */
  public X509Certificate sign(CertificateRequest csr, List<String> usages, Integer expirationSeconds) {
    return sign(Objects.requireNonNull(csr, "csr").parsed, usages, expirationSeconds);
  }

  X509Certificate sign(ParsedCsr csr, List<String> usages, Integer expirationSeconds) {
    Objects.requireNonNull(csr, "csr");
    Objects.requireNonNull(usages, "usages");
    RequestRules.check(csr, RequestRules.MAX_NAMES_CEILING).or(() -> RequestRules.shapeProblem(csr, usages))
        .ifPresent(v -> {
          throw new SigningException(v.reason(), v.message());
        });
    Instant now = clock.instant();
    Instant caNotBefore = certificate.getNotBefore().toInstant();
    Instant caNotAfter = certificate.getNotAfter().toInstant();
    if (!now.isBefore(caNotAfter)) {
      throw new SigningException("CaExpired", "the CA certificate expired at " + caNotAfter);
    }
    Duration lifetime = validity.lifetime(expirationSeconds);
    Instant notBefore = now.minus(validity.backdateFor(lifetime));
    if (notBefore.isBefore(caNotBefore)) {
      notBefore = caNotBefore;
    }
    Instant notAfter = now.plus(lifetime);
    if (notAfter.isAfter(caNotAfter)) {
      notAfter = caNotAfter;
    }
    try {
      X500Name subject = csr.subject();
      // The key as the decoded key encodes it (as before: a compressed EC point in the request is
      // issued uncompressed), encoded once for both the certificate and its key identifier.
      SubjectPublicKeyInfo leafKey = SubjectPublicKeyInfo.getInstance(csr.publicKey().getEncoded());
      X509v3CertificateBuilder builder = new X509v3CertificateBuilder(issuerName, serial(random),
          CertificateTimes.of(notBefore), CertificateTimes.of(notAfter), subject, leafKey)
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(keyUsage(csr, usages)))
          .addExtension(Extension.subjectKeyIdentifier, false, Crypto.subjectKeyIdentifier(leafKey))
          .addExtension(Extension.authorityKeyIdentifier, false, authorityKeyIdentifier);
      List<KeyPurposeId> purposes = new ArrayList<>();
      if (usages.contains(Usages.SERVER_AUTH)) {
        purposes.add(KeyPurposeId.id_kp_serverAuth);
      }
      if (usages.contains(Usages.CLIENT_AUTH)) {
        purposes.add(KeyPurposeId.id_kp_clientAuth);
      }
      // Never empty (RequestRules#shapeProblem): a leaf without EKU would be valid for any purpose.
      builder.addExtension(Extension.extendedKeyUsage, false,
          new ExtendedKeyUsage(purposes.toArray(KeyPurposeId[]::new)));
      if (csr.subjectAltNames() != null) {
        // RFC 5280 4.2.1.6: critical when the subject is empty.
        builder.addExtension(Extension.subjectAlternativeName, subject.getRDNs().length == 0, csr.subjectAltNames());
      }
      // Natively with ACCP when present, else BouncyCastle's provider with its own key class, which
      // signs EC about six times as fast as SunEC on Java 17 (Crypto#signingKey).
      ContentSigner signer = new JcaContentSignerBuilder(signatureAlgorithm).setProvider(signingKey.provider())
          .setSecureRandom(random).build(signingKey.key());
      return Crypto.certificate(builder.build(signer).getEncoded());
    } catch (GeneralSecurityException | OperatorCreationException | java.io.IOException e) {
      throw new SigningException("SigningError", "the CA could not sign the certificate ("
          + e.getClass().getSimpleName() + ")", e);
    }
  }

  /**
   * The longest backdate of a pod certificate's {@code notBefore}: the API server refuses a
   * {@code status.notBefore} more than 5 minutes away from its own clock, so the configured
   * backdate is capped here to leave room for clock skew.
   */
  public static final Duration POD_CERTIFICATE_MAX_BACKDATE = Duration.ofMinutes(1);

  /** The shortest pod certificate the API server accepts ({@code notAfter - notBefore}). */
  public static final Duration POD_CERTIFICATE_MIN_LIFETIME = Duration.ofHours(1);

  /**
   * Signs a certificate for a PodCertificateRequest: the key comes from {@code spec.pkixPublicKey}
   * (already checked by the API server's proof of possession and by this signer's key rules), the
   * names are those the signer decided the pod owns. The subject is empty and the SAN extension
   * critical; the usages are digital signature (plus key encipherment for RSA keys), server and client
   * auth; {@code notBefore} is now minus the backdate (at most {@link #POD_CERTIFICATE_MAX_BACKDATE}),
   * {@code notAfter} is {@code notBefore + lifetime}, both inside the CA's validity.
   *
   * @param key      the pod's public key
   * @param uris     URI SANs (the SPIFFE ID)
   * @param dnsNames DNS SANs
   * @param ips      IP address SANs, as literals
   * @param lifetime {@code notAfter - notBefore}, already clamped by the caller
   * @throws SigningException {@code CaExpired} if the CA has expired, {@code CaExpiresTooSoon} if the CA's
   *     notAfter leaves less than {@link #POD_CERTIFICATE_MIN_LIFETIME}, {@code SigningError} if signing fails
   */
  public X509Certificate signPodCertificate(PublicKey key, List<String> uris, List<String> dnsNames, List<String> ips,
      Duration lifetime) {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(lifetime, "lifetime");
    Instant now = clock.instant();
    Instant caNotBefore = certificate.getNotBefore().toInstant();
    Instant caNotAfter = certificate.getNotAfter().toInstant();
    if (!now.isBefore(caNotAfter)) {
      throw new SigningException("CaExpired", "the CA certificate expired at " + caNotAfter);
    }
    Duration backdate = validity.backdateFor(lifetime);
    if (backdate.compareTo(POD_CERTIFICATE_MAX_BACKDATE) > 0) {
      backdate = POD_CERTIFICATE_MAX_BACKDATE;
    }
    // Whole seconds, as X.509 encodes them: the API server compares status.notBefore/notAfter with
    // the leaf's exactly.
    Instant notBefore = now.minus(backdate).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    if (notBefore.isBefore(caNotBefore)) {
      notBefore = caNotBefore;
    }
    Instant notAfter = notBefore.plus(lifetime).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    if (notAfter.isAfter(caNotAfter)) {
      notAfter = caNotAfter;
    }
    if (Duration.between(notBefore, notAfter).compareTo(POD_CERTIFICATE_MIN_LIFETIME) < 0) {
      throw new SigningException("CaExpiresTooSoon", "the signing CA expires at " + caNotAfter + ", which leaves less"
          + " than the " + POD_CERTIFICATE_MIN_LIFETIME.toMinutes() + " minutes a pod certificate must be valid;"
          + " rotate the CA");
    }
    List<org.bouncycastle.asn1.x509.GeneralName> names = new ArrayList<>();
    uris.forEach(u -> names.add(new org.bouncycastle.asn1.x509.GeneralName(
        org.bouncycastle.asn1.x509.GeneralName.uniformResourceIdentifier, u)));
    dnsNames.forEach(d -> names.add(new org.bouncycastle.asn1.x509.GeneralName(
        org.bouncycastle.asn1.x509.GeneralName.dNSName, d)));
    ips.forEach(i -> names.add(new org.bouncycastle.asn1.x509.GeneralName(
        org.bouncycastle.asn1.x509.GeneralName.iPAddress, i)));
    if (names.isEmpty()) {
      throw new IllegalArgumentException("a pod certificate needs at least one name");
    }
    try {
      JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
      int usage = KeyUsage.digitalSignature;
      if (key instanceof java.security.interfaces.RSAPublicKey) {
        usage |= KeyUsage.keyEncipherment;
      }
      X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(
          issuerName, serial(random),
          CertificateTimes.of(notBefore), CertificateTimes.of(notAfter),
          new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), key)
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(usage))
          .addExtension(Extension.extendedKeyUsage, false,
              new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
          .addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(key))
          .addExtension(Extension.authorityKeyIdentifier, false, authorityKeyIdentifier)
          // RFC 5280 4.2.1.6: critical, the subject being empty.
          .addExtension(Extension.subjectAlternativeName, true, new org.bouncycastle.asn1.x509.GeneralNames(
              names.toArray(org.bouncycastle.asn1.x509.GeneralName[]::new)));
      ContentSigner signer = new JcaContentSignerBuilder(signatureAlgorithm).setProvider(signingKey.provider())
          .setSecureRandom(random).build(signingKey.key());
      return Crypto.certificate(builder.build(signer).getEncoded());
    } catch (GeneralSecurityException | OperatorCreationException | java.io.IOException e) {
      throw new SigningException("SigningError", "the CA could not sign the certificate ("
          + e.getClass().getSimpleName() + ")", e);
    }
  }

  private static int keyUsage(ParsedCsr csr, List<String> usages) {
    int bits = KeyUsage.digitalSignature;
    if (usages.contains(Usages.KEY_ENCIPHERMENT) && csr.keyKind() == ParsedCsr.KeyKind.RSA) {
      bits |= KeyUsage.keyEncipherment;
    }
    return bits;
  }

  private static BigInteger serial(SecureRandom random) {
    BigInteger serial;
    do {
      serial = new BigInteger(128, random);
    } while (serial.signum() == 0);
    return serial;
  }

  private static String decode(Map<String, String> data, String key, String what) {
    String value = data.get(key);
    if (value == null || value.isEmpty()) {
      throw new InvalidMaterialException(what + " has no " + key + " entry");
    }
    try {
      return new String(Base64.getDecoder().decode(value), StandardCharsets.US_ASCII);
    } catch (IllegalArgumentException e) {
      throw new InvalidMaterialException(what + ": the " + key + " entry is not valid base64", e);
    }
  }

  private static String signatureAlgorithm(PrivateKey key) {
    if (key instanceof ECPrivateKey ec) {
      int bits = ec.getParams().getOrder().bitLength();
      return bits > 384 ? "SHA512withECDSA" : bits > 256 ? "SHA384withECDSA" : "SHA256withECDSA";
    }
    if (key instanceof RSAPrivateKey) {
      return "SHA256withRSA";
    }
    if ("Ed25519".equalsIgnoreCase(key.getAlgorithm()) || "EdDSA".equalsIgnoreCase(key.getAlgorithm())) {
      return "Ed25519";
    }
    throw new IllegalArgumentException("unsupported CA key algorithm " + key.getAlgorithm());
  }

  @Override
  public String toString() {
    return "CertificateAuthority[subject=" + certificate.getSubjectX500Principal().getName() + ", serial="
        + certificate.getSerialNumber().toString(16) + ", notAfter=" + certificate.getNotAfter().toInstant() + "]";
  }
}
