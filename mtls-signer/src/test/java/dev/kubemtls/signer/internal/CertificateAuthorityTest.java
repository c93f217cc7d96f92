package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.testkit.MutableClock;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.junit.jupiter.api.Test;

class CertificateAuthorityTest {

  private static final Instant NOW = Instant.parse("2026-03-01T12:00:00Z");
  private static final ValidityPolicy POLICY =
      new ValidityPolicy(Duration.ofMinutes(1), Duration.ofHours(24), Duration.ofMinutes(5));
  private static final List<String> SERVER_CLIENT = List.of("digital signature", "server auth", "client auth");

  private final MutableClock clock = new MutableClock(NOW.minus(Duration.ofDays(1)));
  private final SecureRandom random = new SecureRandom();
  private final CertificateAuthority ca =
      CertificateAuthority.generate("kube-mtls test CA", Duration.ofDays(365), POLICY, clock, random);

  {
    clock.set(NOW);
  }

  private X509Certificate sign(Integer seconds) {
    return ca.sign(TestCsr.builder().dns("web.shop.svc").pem(), SERVER_CLIENT, seconds);
  }

  @Test
  void lifetimeIsRequestedSecondsClampedToMinAndMax() {
    assertThat(lifetimeOf(sign(3600))).isEqualTo(Duration.ofHours(1));
    assertThat(lifetimeOf(sign(10))).isEqualTo(Duration.ofMinutes(1));
    assertThat(lifetimeOf(sign(7 * 24 * 3600))).isEqualTo(Duration.ofHours(24));
    assertThat(lifetimeOf(sign(null))).isEqualTo(Duration.ofHours(24));
  }

  @Test
  void maxTtlMayBeBelowTheApiFloor() {
    CertificateAuthority fast = ca.withValidity(
        new ValidityPolicy(Duration.ofSeconds(30), Duration.ofSeconds(90), Duration.ofMinutes(5)));
    X509Certificate cert = fast.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 600);
    assertThat(cert.getNotAfter().toInstant()).isEqualTo(NOW.plusSeconds(90));
    // The backdate is capped at half the lifetime so that renewal at 70% happens after issuance.
    assertThat(cert.getNotBefore().toInstant()).isEqualTo(NOW.minusSeconds(45));
  }

  @Test
  void notBeforeIsBackdatedButNeverBeforeTheCas() {
    X509Certificate cert = sign(3600);
    assertThat(cert.getNotBefore().toInstant()).isEqualTo(NOW.minus(Duration.ofMinutes(5)));

    MutableClock young = new MutableClock(NOW);
    CertificateAuthority fresh = CertificateAuthority.generate("fresh", Duration.ofDays(1), POLICY, young, random);
    X509Certificate leaf = fresh.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 3600);
    assertThat(leaf.getNotBefore()).isEqualTo(fresh.certificate().getNotBefore());
  }

  @Test
  void notAfterIsCappedAtTheCas() {
    CertificateAuthority shortLived =
        CertificateAuthority.generate("short", Duration.ofMinutes(30), POLICY, clock, random);
    X509Certificate leaf = shortLived.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 86400);
    assertThat(leaf.getNotAfter()).isEqualTo(shortLived.certificate().getNotAfter());
  }

  @Test
  void serialsAreRandomPositiveAndAtMost128Bits() {
    BigInteger a = sign(3600).getSerialNumber();
    BigInteger b = sign(3600).getSerialNumber();
    assertThat(a.signum()).isPositive();
    assertThat(a.bitLength()).isLessThanOrEqualTo(128).isGreaterThan(64);
    assertThat(a).isNotEqualTo(b);
  }

  @Test
  void extensionsMakeALeafWithKeyIdentifiers() throws Exception {
    X509Certificate cert = sign(3600);
    assertThat(cert.getBasicConstraints()).isEqualTo(-1);
    assertThat(cert.getCriticalExtensionOIDs()).contains(Extension.basicConstraints.getId(), Extension.keyUsage.getId());
    boolean[] ku = cert.getKeyUsage();
    assertThat(ku[0]).as("digitalSignature").isTrue();
    assertThat(ku[2]).as("keyEncipherment").isFalse();
    assertThat(ku[5]).as("keyCertSign").isFalse();
    assertThat(cert.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    byte[] aki = cert.getExtensionValue(Extension.authorityKeyIdentifier.getId());
    byte[] caSki = ca.certificate().getExtensionValue(Extension.subjectKeyIdentifier.getId());
    assertThat(JcaX509ExtensionUtils.parseExtensionValue(aki).toString())
        .contains(new String(org.bouncycastle.util.encoders.Hex.encode(
            SubjectKeyIdentifier.getInstance(JcaX509ExtensionUtils.parseExtensionValue(caSki)).getKeyIdentifier())));
    assertThat(cert.getExtensionValue(Extension.subjectKeyIdentifier.getId())).isNotNull();
    cert.verify(ca.certificate().getPublicKey());
    assertThat(cert.getIssuerX500Principal()).isEqualTo(ca.certificate().getSubjectX500Principal());
  }

  @Test
  void extendedKeyUsagesFollowTheUsages() throws Exception {
    String csr = TestCsr.builder().dns("a.b.svc").pem();
    assertThat(ca.sign(csr, List.of("digital signature", "server auth"), 3600).getExtendedKeyUsage())
        .containsExactly("1.3.6.1.5.5.7.3.1");
    assertThat(ca.sign(csr, List.of("digital signature", "client auth"), 3600).getExtendedKeyUsage())
        .containsExactly("1.3.6.1.5.5.7.3.2");
    // Never without an EKU: such a certificate would be valid for any purpose.
    assertThatThrownBy(() -> ca.sign(csr, List.of("digital signature"), 3600)).isInstanceOf(SigningException.class)
        .satisfies(e -> assertThat(((SigningException) e).reason()).isEqualTo(ApprovalDecision.UNEXPECTED_USAGE));
  }

  @Test
  void keyEnciphermentOnlyForRsaKeys() {
    List<String> usages = List.of("digital signature", "key encipherment", "server auth");
    X509Certificate rsa = ca.sign(TestCsr.builder().key(TestCsr.rsaKey()).dns("a.b.svc").pem(), usages, 3600);
    assertThat(rsa.getKeyUsage()[2]).isTrue();
    // The approver's rule, applied by the CA as well.
    assertThatThrownBy(() -> ca.sign(TestCsr.builder().dns("a.b.svc").pem(), usages, 3600))
        .isInstanceOf(SigningException.class).hasMessageContaining("only for RSA keys");
    X509Certificate ec = ca.sign(TestCsr.builder().dns("a.b.svc").pem(), List.of("digital signature", "server auth"),
        3600);
    assertThat(ec.getKeyUsage()[2]).isFalse();
  }

  @Test
  void subjectAndSansAreCopiedExactly() throws Exception {
    String spiffe = "spiffe://cluster.local/ns/shop/sa/web";
    X509Certificate cert = ca.sign(TestCsr.builder().subject("CN=web.shop.svc").dns("web.shop.svc", "web")
        .ip("10.1.2.3").uri(spiffe).pem(), SERVER_CLIENT, 3600);
    assertThat(cert.getSubjectX500Principal().getName()).isEqualTo("CN=web.shop.svc");
    Collection<List<?>> sans = cert.getSubjectAlternativeNames();
    assertThat(sans).containsExactly(List.of(2, "web.shop.svc"), List.of(2, "web"), List.of(7, "10.1.2.3"),
        List.of(6, spiffe));
    assertThat(cert.getCriticalExtensionOIDs()).doesNotContain(Extension.subjectAlternativeName.getId());

    X509Certificate noSubject = ca.sign(TestCsr.builder().uri(spiffe).pem(), SERVER_CLIENT, 3600);
    assertThat(noSubject.getCriticalExtensionOIDs()).contains(Extension.subjectAlternativeName.getId());
  }

  @Test
  void refusesWhatItMustNotSign() {
    assertThatThrownBy(() -> ca.sign("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        SERVER_CLIENT, 3600)).isInstanceOfSatisfying(SigningException.class,
        e -> assertThat(e.reason()).isEqualTo("MalformedRequest"));
    assertThatThrownBy(() -> ca.sign(TestCsr.builder().ca().dns("a.b.svc").pem(), SERVER_CLIENT, 3600))
        .isInstanceOfSatisfying(SigningException.class, e -> assertThat(e.reason()).isEqualTo("CaNotAllowed"));
    assertThatThrownBy(() -> ca.sign(TestCsr.builder().signedBy(TestCsr.ecKey()).dns("a.b.svc").pem(),
        SERVER_CLIENT, 3600)).isInstanceOfSatisfying(SigningException.class,
        e -> assertThat(e.reason()).isEqualTo("InvalidSignature"));
    assertThatThrownBy(() -> ca.sign(TestCsr.builder().dns("a.b.svc").pem(), List.of("cert sign"), 3600))
        .isInstanceOfSatisfying(SigningException.class, e -> assertThat(e.reason()).isEqualTo("UnexpectedUsage"));
  }

  @Test
  void refusesWeakOrMalformedMakeUpEvenWhenApprovedElsewhere() {
    java.util.Map<TestCsr, String> cases = new java.util.LinkedHashMap<>();
    cases.put(TestCsr.builder().key(TestCsr.rsaKey(1024)).dns("a.b.svc"), "KeyNotAllowed");
    cases.put(TestCsr.builder().key(TestCsr.ecKey("secp521r1")).signatureAlgorithm("SHA512withECDSA").dns("a.b.svc"),
        "KeyNotAllowed");
    cases.put(TestCsr.builder().key(TestCsr.ed25519Key()).dns("a.b.svc"), "KeyNotAllowed");
    cases.put(TestCsr.builder().key(TestCsr.rsaKey()).signatureAlgorithm("SHA1withRSA").dns("a.b.svc"),
        "SignatureAlgorithmNotAllowed");
    cases.put(TestCsr.builder().dns("a.b.svc", "a.b.svc"), "DuplicateName");
    cases.put(TestCsr.builder().mappedIp("10.1.2.3"), "MappedIpAddress");
    String[] many = new String[257];
    for (int i = 0; i < many.length; i++) {
      many[i] = "n" + i + ".b.svc";
    }
    cases.put(TestCsr.builder().dns(many), "TooManyNames");
    cases.forEach((csr, reason) -> assertThatThrownBy(() -> ca.sign(csr.pem(), SERVER_CLIENT, 3600))
        .as(reason).isInstanceOfSatisfying(SigningException.class, e -> {
          assertThat(e.reason()).isEqualTo(reason);
          assertThat(e.getMessage()).hasSizeLessThan(400);
        }));
  }

  @Test
  void aParsedRequestIsVerifiedOnceAndSignedAsParsed() throws Exception {
    ParsedCsr parsed =
        ParsedCsr.parse(TestCsr.builder().dns("a.b.svc").pem());
    assertThat(parsed.signatureValid()).isTrue();
    X509Certificate cert = ca.sign(parsed, SERVER_CLIENT, 3600);
    assertThat(cert.getPublicKey()).isEqualTo(parsed.publicKey());
    ParsedCsr forged = ParsedCsr.parse(
        TestCsr.builder().dns("a.b.svc").signedBy(TestCsr.ecKey()).pem());
    assertThatThrownBy(() -> ca.sign(forged, SERVER_CLIENT, 3600)).isInstanceOfSatisfying(SigningException.class,
        e -> assertThat(e.reason()).isEqualTo("InvalidSignature"));
  }

  @Test
  void refusesWhenTheCaHasExpired() {
    MutableClock time = new MutableClock(NOW);
    CertificateAuthority soon = CertificateAuthority.generate("soon", Duration.ofHours(1), POLICY, time, random);
    time.advance(Duration.ofHours(2));
    assertThatThrownBy(() -> soon.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 3600))
        .isInstanceOfSatisfying(SigningException.class, e -> assertThat(e.reason()).isEqualTo("CaExpired"));
  }

  @Test
  void loadsFromATlsSecret() {
    CertificateAuthority loaded = CertificateAuthority.fromSecret(
        secret("kubernetes.io/tls", ca.certificatePem(), ca.privateKeyPem()), POLICY, clock, random);
    assertThat(loaded.certificate()).isEqualTo(ca.certificate());
    X509Certificate leaf = loaded.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 3600);
    assertThat(leaf.getIssuerX500Principal()).isEqualTo(ca.certificate().getSubjectX500Principal());
  }

  @Test
  void refusesBadSecrets() {
    assertThatThrownBy(() -> CertificateAuthority.fromSecret(secret("Opaque", ca.certificatePem(), ca.privateKeyPem()),
        POLICY, clock, random)).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("kubernetes.io/tls");
    assertThatThrownBy(() -> CertificateAuthority.fromSecret(secret("kubernetes.io/tls", ca.certificatePem(), null),
        POLICY, clock, random)).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("no tls.key");
    assertThatThrownBy(() -> CertificateAuthority.fromSecret(secret("kubernetes.io/tls", "not pem", ca.privateKeyPem()),
        POLICY, clock, random)).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("tls.crt");
    CertificateAuthority other = CertificateAuthority.generate("other", Duration.ofDays(1), POLICY, clock, random);
    assertThatThrownBy(() -> CertificateAuthority.fromSecret(
        secret("kubernetes.io/tls", ca.certificatePem(), other.privateKeyPem()), POLICY, clock, random))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("is not the private key");
  }

  @Test
  void refusesALeafAsCa() {
    X509Certificate leaf = ca.sign(TestCsr.builder().dns("a.b.svc").pem(), SERVER_CLIENT, 3600);
    // A leaf certificate with any key: refused for not being a CA before the key is even compared.
    assertThatThrownBy(() -> CertificateAuthority.fromPem(
        dev.kubemtls.core.pki.Pem.encodeCertificates(List.of(leaf)), ca.privateKeyPem(), "Secret x/y", POLICY, clock,
        random)).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("is not a CA");
  }

  @Test
  void refusesAnExpiredCa() {
    CertificateAuthority old = CertificateAuthority.generate("old", Duration.ofHours(1), POLICY, clock, random);
    InstantSource later = InstantSource.fixed(NOW.plus(Duration.ofDays(2)));
    assertThatThrownBy(() -> CertificateAuthority.fromPem(old.certificatePem(), old.privateKeyPem(), "Secret x/y",
        POLICY, later, random)).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("expired");
  }

  @Test
  void signingAppliesTheApproversNameSubjectAndExtensionRulesWhoeverApproved() {
    // Each of these was signed as it came when someone else holding "approve" had approved it.
    Map<TestCsr, String> cases = new java.util.LinkedHashMap<>();
    cases.put(TestCsr.builder().subject("CN=web,O=system:masters").dns("web.shop.svc"), "SubjectNotAllowed");
    cases.put(TestCsr.builder().subject("CN=admin").dns("web.shop.svc"), "SubjectNotAllowed");
    cases.put(TestCsr.builder().dns("web.shop.svc").email("a@example.com"), "EmailNotAllowed");
    cases.put(TestCsr.builder().dns("*.shop.svc"), "WildcardNotAllowed");
    cases.put(TestCsr.builder().dns("WEB.shop.svc"), "UnauthorizedDnsName");
    cases.put(TestCsr.builder().dns("web.shop.svc\n2026 INFO issued"), "UnauthorizedDnsName");
    cases.put(TestCsr.builder().uri("https://example.com"), "SpiffeIdMismatch");
    cases.put(TestCsr.builder().uri("spiffe://a/ns/x/sa/y", "spiffe://a/ns/x/sa/z"), "SpiffeIdMismatch");
    cases.put(TestCsr.builder().subject("CN=web"), "NoIdentity");
    cases.forEach((csr, reason) -> assertThatThrownBy(() -> ca.sign(csr.pem(), SERVER_CLIENT, 3600))
        .as(reason).isInstanceOfSatisfying(SigningException.class, e -> assertThat(e.reason()).isEqualTo(reason)));
    // What the approver issues still signs: a ServiceAccount's user name as CN, a SPIFFE ID.
    X509Certificate ok = ca.sign(TestCsr.builder().subject("CN=system:serviceaccount:shop:web")
        .uri("spiffe://cluster.local/ns/shop/sa/web").pem(), SERVER_CLIENT, 3600);
    assertThat(ok.getSubjectX500Principal().getName()).isEqualTo("CN=system:serviceaccount:shop:web");
  }

  @Test
  void leavesCarryAnAuthorityKeyIdentifierOfTheKeyIdentifierAlone() throws Exception {
    X509Certificate leaf = sign(3600);
    org.bouncycastle.asn1.x509.AuthorityKeyIdentifier aki = org.bouncycastle.asn1.x509.AuthorityKeyIdentifier
        .getInstance(org.bouncycastle.asn1.ASN1OctetString.getInstance(
            leaf.getExtensionValue(Extension.authorityKeyIdentifier.getId())).getOctets());
    // No issuer name and serial: a CA certificate renewed for the same key still issues these leaves.
    assertThat(aki.getAuthorityCertIssuer()).isNull();
    assertThat(aki.getAuthorityCertSerialNumber()).isNull();
    byte[] caSki = SubjectKeyIdentifier.getInstance(org.bouncycastle.asn1.ASN1OctetString.getInstance(
        ca.certificate().getExtensionValue(Extension.subjectKeyIdentifier.getId())).getOctets()).getKeyIdentifier();
    assertThat(aki.getKeyIdentifier()).isEqualTo(caSki);
  }

  @Test
  void aGeneratedCaSignsCertificatesAndCrlsOnlyAndDoesNotPinItsIssuer() throws Exception {
    X509Certificate cert = ca.certificate();
    boolean[] ku = cert.getKeyUsage();
    // digitalSignature(0) off, keyCertSign(5) and cRLSign(6) on.
    assertThat(ku[0]).isFalse();
    assertThat(ku[5]).isTrue();
    assertThat(ku[6]).isTrue();
    assertThat(cert.getBasicConstraints()).isZero();
    assertThat(cert.getCriticalExtensionOIDs()).contains(Extension.basicConstraints.getId(), Extension.keyUsage.getId());
    org.bouncycastle.asn1.x509.AuthorityKeyIdentifier aki = org.bouncycastle.asn1.x509.AuthorityKeyIdentifier
        .getInstance(org.bouncycastle.asn1.ASN1OctetString.getInstance(
            cert.getExtensionValue(Extension.authorityKeyIdentifier.getId())).getOctets());
    assertThat(aki.getAuthorityCertIssuer()).isNull();
    assertThat(aki.getAuthorityCertSerialNumber()).isNull();
    assertThat(cert.getExtensionValue(Extension.nameConstraints.getId())).isNull();
  }

  @Test
  void maxTtlHasACeiling() {
    assertThat(new ValidityPolicy(Duration.ofMinutes(10), Duration.ofDays(30), Duration.ZERO).maxTtl())
        .isEqualTo(ValidityPolicy.MAX_TTL_CEILING);
    assertThatThrownBy(() -> new ValidityPolicy(Duration.ofMinutes(10), Duration.ofDays(31), Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ceiling of 30 days");
    assertThatThrownBy(() -> SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload",
        "--ca-secret-namespace=kube-mtls", "--identity=a", "--max-ttl=8760h"), Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--max-ttl");
  }

  @Test
  void aCaSecretNestedTooDeeplyIsRefusedBeforeParsing() throws Exception {
    byte[] deep = RequestLimitsTest.nested(5_000);
    String pem = dev.kubemtls.core.pki.Pem.encode("CERTIFICATE", deep);
    assertThatThrownBy(() -> CertificateAuthority.fromPem(pem, ca.privateKeyPem(), "Secret x/y", POLICY, clock, random))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("Secret x/y tls.crt: certificate 1 is not acceptable DER: ASN.1 structures nested deeper than 32 levels");
  }

  private static Duration lifetimeOf(X509Certificate cert) {
    return Duration.between(NOW, cert.getNotAfter().toInstant());
  }

  private static Secret secret(String type, String cert, String key) {
    Map<String, String> data = new java.util.HashMap<>();
    if (cert != null) {
      data.put("tls.crt", Base64.getEncoder().encodeToString(cert.getBytes(StandardCharsets.US_ASCII)));
    }
    if (key != null) {
      data.put("tls.key", Base64.getEncoder().encodeToString(key.getBytes(StandardCharsets.US_ASCII)));
    }
    return new SecretBuilder().withNewMetadata().withNamespace("kube-mtls").withName("ca").endMetadata()
        .withType(type).withData(data).build();
  }
}
