package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.pki.Pem;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.format.DateTimeParseException;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.Test;

/**
 * The signer's native crypto (ACCP, on this module's test class path) gives the same answers as
 * BouncyCastle's: the same requests verify and the same do not, and certificates it signs verify with
 * the CA's key.
 */
class CryptoTest {

  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");

  @Test
  void theNativeProviderIsInUseWhereItLoads() {
    assertThat(Crypto.NATIVE)
        .as("ACCP (linux-x86_64) is on the test class path; it did not load here: %s/%s",
            System.getProperty("os.name"), System.getProperty("os.arch"))
        .isNotNull();
    assertThat(Crypto.describe()).contains("AmazonCorrettoCryptoProvider").contains("native");
  }

  @Test
  void requestsVerifyNativelyExactlyWhenTheyVerifyWithBouncyCastle() throws Exception {
    // Each key with another key of the same kind, whose signature must not pass for it.
    List<KeyPair[]> pairs = List.of(new KeyPair[] {TestCsr.ecKey(), TestCsr.ecKey()},
        new KeyPair[] {TestCsr.ecKey("secp384r1"), TestCsr.ecKey("secp384r1")},
        new KeyPair[] {TestCsr.rsaKey(), TestCsr.rsaKey()});
    for (KeyPair[] pair : pairs) {
      String good = TestCsr.builder().key(pair[0]).dns("web.shop.svc").pem();
      String forged = TestCsr.builder().key(pair[0]).signedBy(pair[1]).dns("web.shop.svc").pem();
      assertThat(ParsedCsr.parse(good).signatureValid()).as(pair[0].getPublic().getAlgorithm()).isTrue();
      assertThat(bouncyCastleVerifies(good)).isTrue();
      assertThat(ParsedCsr.parse(forged).signatureValid()).as(pair[0].getPublic().getAlgorithm()).isFalse();
      assertThat(bouncyCastleVerifies(forged)).isFalse();
    }
  }

  @Test
  void aRequestWithOneBitOfItsSignatureFlippedDoesNotVerify() {
    String good = TestCsr.builder().dns("web.shop.svc").pem();
    byte[] der = Pem.blocks(good, "t").get(0).der();
    der[der.length - 3] ^= 0x01;
    String flipped = Pem.encode("CERTIFICATE REQUEST", der);
    assertThat(ParsedCsr.parse(flipped).signatureValid()).isFalse();
  }

  @Test
  void certificatesSignedNativelyVerifyWithTheCaKey() throws Exception {
    CertificateAuthority ec = CertificateAuthority.generate("native test CA", Duration.ofDays(1), ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
    CertificateAuthority rsa = rsaCa();
    for (CertificateAuthority ca : List.of(ec, rsa)) {
      KeyPair leaf = TestCsr.ecKey();
      X509Certificate cert = ca.sign(TestCsr.builder().key(leaf).dns("web.shop.svc")
          .uri("spiffe://cluster.local/ns/shop/sa/web").pem(), USAGES, 3600);
      cert.verify(ca.certificate().getPublicKey());
      assertThat(cert.getPublicKey().getEncoded()).isEqualTo(leaf.getPublic().getEncoded());
      byte[] ski = new JcaX509ExtensionUtils().createSubjectKeyIdentifier(leaf.getPublic()).getKeyIdentifier();
      assertThat(org.bouncycastle.asn1.x509.SubjectKeyIdentifier.getInstance(
          org.bouncycastle.asn1.ASN1OctetString.getInstance(cert.getExtensionValue(Extension.subjectKeyIdentifier.getId()))
              .getOctets()).getKeyIdentifier()).isEqualTo(ski);
      assertThat(cert.getIssuerX500Principal()).isEqualTo(ca.certificate().getSubjectX500Principal());
    }
  }

  @Test
  void theSigningKeyIsTheNativeProvidersWhenItLoads() {
    KeyPair ec = TestCsr.ecKey();
    Crypto.SigningKey key = Crypto.signingKey(ec.getPrivate());
    assertThat(key.provider()).isSameAs(Crypto.NATIVE);
    assertThat(Crypto.signingKey(TestCsr.rsaKey().getPrivate()).provider()).isSameAs(Crypto.NATIVE);
  }

  @Test
  void apiServerTimestampsReadAsInstantParseReadsThem() {
    for (String t : List.of("2026-12-07T06:44:59Z", "1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z",
        "9999-12-31T23:59:59Z", "2026-12-07T06:44:59.123456Z", "2026-12-07T06:44:59+02:00",
        "2026-12-07T24:00:00Z")) {
      assertThat(Csrs.timestamp(t)).as(t).isEqualTo(Instant.parse(t));
    }
    for (String t : List.of("2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-07T06:60:00Z", "2026-12-07 06:44:59Z", "2026-12-07T06:4a:59Z", "")) {
      assertThatThrownBy(() -> Csrs.timestamp(t)).as(t).isInstanceOf(DateTimeParseException.class);
    }
  }

  private static boolean bouncyCastleVerifies(String pem) throws Exception {
    PKCS10CertificationRequest request = new PKCS10CertificationRequest(Pem.blocks(pem, "t").get(0).der());
    ParsedCsr parsed = ParsedCsr.parse(pem);
    Signature verifier = Signature.getInstance(parsed.signatureAlgorithmName(), Crypto.PROVIDER);
    verifier.initVerify(parsed.publicKey());
    verifier.update(request.toASN1Structure().getCertificationRequestInfo().getEncoded(ASN1Encoding.DER));
    return verifier.verify(request.getSignature());
  }

  private static CertificateAuthority rsaCa() throws Exception {
    KeyPair key = TestCsr.rsaKey();
    X500Name name = new X500Name("CN=native test RSA CA");
    Instant now = Instant.now();
    var builder = new JcaX509v3CertificateBuilder(name, BigInteger.valueOf(now.toEpochMilli()),
        Date.from(now.minusSeconds(60)), Date.from(now.plus(Duration.ofDays(1))), name, key.getPublic())
        .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
        .addExtension(Extension.keyUsage, true, new org.bouncycastle.asn1.x509.KeyUsage(
            org.bouncycastle.asn1.x509.KeyUsage.keyCertSign | org.bouncycastle.asn1.x509.KeyUsage.cRLSign))
        .addExtension(Extension.subjectKeyIdentifier, false,
            new JcaX509ExtensionUtils().createSubjectKeyIdentifier(key.getPublic()));
    X509Certificate cert = new JcaX509CertificateConverter().getCertificate(
        builder.build(new JcaContentSignerBuilder("SHA256withRSA").build(key.getPrivate())));
    return CertificateAuthority.fromPem(Pem.encode("CERTIFICATE", cert.getEncoded()),
        Pem.encode("PRIVATE KEY", key.getPrivate().getEncoded()), "test RSA CA", ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
  }
}
