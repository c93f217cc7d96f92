package dev.kubemtls.core.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.testkit.TestCa;
import java.io.ByteArrayOutputStream;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;

class BundleSignaturesTest {

  private static final TestCa ONE = TestCa.create("bundle-one");
  private static final TestCa TWO = TestCa.create("bundle-two");
  private static final TestCa FOREIGN = TestCa.create("bundle-foreign");
  private static final Instant AT = Instant.parse("2026-12-01T10:00:00Z");

  private static BundleSignatures.Signer signer(TestCa ca) {
    return new BundleSignatures.Signer(ca.certificate(), ca.keyPair().getPrivate());
  }

  private static String bundle(TestCa... cas) {
    StringBuilder pem = new StringBuilder();
    for (TestCa ca : cas) {
      pem.append(ca.certificatePem());
    }
    return pem.toString();
  }

  @Test
  void eachSignerAloneVerifiesTheExactTextWithItsSigningTime() {
    String pem = bundle(ONE, TWO);
    String sig = BundleSignatures.sign(pem, List.of(signer(ONE), signer(TWO)), AT);
    BundleSignatures.Verified byOne = BundleSignatures.verify(pem, sig, List.of(ONE.certificate()), "sig");
    assertThat(byOne.by()).isEqualTo(ONE.certificate());
    assertThat(byOne.signingTime()).isEqualTo(AT);
    assertThat(BundleSignatures.verify(pem, sig, List.of(TWO.certificate()), "sig").by()).isEqualTo(TWO.certificate());
  }

  @Test
  void aChangedTextAnUntrustedSignerAndAMissingSignatureAreRefused() {
    String pem = bundle(ONE);
    String sig = BundleSignatures.sign(pem, List.of(signer(ONE)), AT);
    assertThatThrownBy(() -> BundleSignatures.verify(pem + FOREIGN.certificatePem(), sig, List.of(ONE.certificate()),
        "sig")).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("does not verify over this bundle");
    String byForeign = BundleSignatures.sign(pem + FOREIGN.certificatePem(), List.of(signer(FOREIGN)), AT);
    assertThatThrownBy(() -> BundleSignatures.verify(pem + FOREIGN.certificatePem(), byForeign,
        List.of(ONE.certificate()), "sig")).isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("no valid signature by a CA this workload already trusts");
    assertThatThrownBy(() -> BundleSignatures.verify(pem, null, List.of(ONE.certificate()), "sig"))
        .hasMessageContaining("the bundle is not signed");
    assertThatThrownBy(() -> BundleSignatures.verify(pem, "  ", List.of(ONE.certificate()), "sig"))
        .hasMessageContaining("the bundle is not signed");
  }

  @Test
  void aCertificateWithTheTrustedNameButAnotherKeyDoesNotVerify() throws Exception {
    // A forger copies the trusted CA's subject and serial onto a certificate of their own key.
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(256);
    KeyPair forgerKey = g.generateKeyPair();
    X509Certificate lookalike = new JcaX509CertificateConverter().getCertificate(new JcaX509v3CertificateBuilder(
        ONE.certificate().getIssuerX500Principal(), ONE.certificate().getSerialNumber(),
        ONE.certificate().getNotBefore(), ONE.certificate().getNotAfter(),
        ONE.certificate().getSubjectX500Principal(), forgerKey.getPublic())
        .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
        .build(new JcaContentSignerBuilder("SHA256withECDSA").build(forgerKey.getPrivate())));
    String pem = bundle(ONE) + TestCa.toPem(lookalike);
    String forged = BundleSignatures.sign(pem, List.of(new BundleSignatures.Signer(lookalike,
        forgerKey.getPrivate())), AT);
    assertThatThrownBy(() -> BundleSignatures.verify(pem, forged, List.of(ONE.certificate()), "sig"))
        .isInstanceOf(InvalidMaterialException.class);
  }

  @Test
  void rsaKeysSignToo() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    KeyPair rsa = g.generateKeyPair();
    Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    X509Certificate ca = new JcaX509CertificateConverter().getCertificate(new JcaX509v3CertificateBuilder(
        new X500Name("CN=rsa bundle CA"), java.math.BigInteger.TEN, java.util.Date.from(now.minusSeconds(60)),
        java.util.Date.from(now.plusSeconds(3600)), new X500Name("CN=rsa bundle CA"), rsa.getPublic())
        .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
        .build(new JcaContentSignerBuilder("SHA256withRSA").build(rsa.getPrivate())));
    String pem = TestCa.toPem(ca);
    String sig = BundleSignatures.sign(pem, List.of(new BundleSignatures.Signer(ca, rsa.getPrivate())), now);
    assertThat(BundleSignatures.verify(pem, sig, List.of(ca), "sig").signingTime()).isEqualTo(now);
  }

  @Test
  void hostileSignatureTextIsRefusedBeforeItIsParsedDeeply() {
    String pem = bundle(ONE);
    List<X509Certificate> trusted = List.of(ONE.certificate());
    assertThatThrownBy(() -> BundleSignatures.verify(pem, "not base64 !!", trusted, "sig"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("not base64");
    assertThatThrownBy(() -> BundleSignatures.verify(pem, "A".repeat(BundleSignatures.MAX_SIGNATURE_CHARS + 4),
        trusted, "sig")).hasMessageContaining("more than");
    // 60 nested SEQUENCEs, each with a one-byte length: small, and refused for its depth.
    ByteArrayOutputStream deep = new ByteArrayOutputStream();
    int levels = 60;
    for (int i = 0; i < levels; i++) {
      deep.write(0x30);
      deep.write(2 * (levels - i - 1));
    }
    String nested = Base64.getEncoder().encodeToString(deep.toByteArray());
    assertThatThrownBy(() -> BundleSignatures.verify(pem, nested, trusted, "sig"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("nested deeper than");
    // A length that runs past its container, and plain garbage DER.
    String overlong = Base64.getEncoder().encodeToString(new byte[] {0x30, 0x7f, 0x02, 0x01, 0x00});
    assertThatThrownBy(() -> BundleSignatures.verify(pem, overlong, trusted, "sig"))
        .hasMessageContaining("is longer (127) than what holds it");
    String notCms = Base64.getEncoder().encodeToString(new byte[] {0x02, 0x01, 0x05});
    assertThatThrownBy(() -> BundleSignatures.verify(pem, notCms, trusted, "sig"))
        .hasMessageContaining("is not a CMS SignedData");
  }

  @Test
  void issuedTellsWhetherAKeySignedACertificate() {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = ONE.leaf(kp.getPublic()).dns("x").build();
    assertThat(BundleSignatures.issued(ONE.certificate().getPublicKey(), leaf)).isTrue();
    assertThat(BundleSignatures.issued(TWO.certificate().getPublicKey(), leaf)).isFalse();
  }

  @Test
  void signingNeedsAKey() {
    assertThatThrownBy(() -> BundleSignatures.sign("x", List.of(), AT)).isInstanceOf(IllegalArgumentException.class);
  }
}
