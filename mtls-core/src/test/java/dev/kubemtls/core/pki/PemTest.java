package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.TestCa;
import java.util.List;
import org.junit.jupiter.api.Test;

class PemTest {

  private static final TestCa CA = TestCa.create("pem-test");
  private static final String CERT = CA.certificatePem();

  @Test
  void readsCertificatesInOrder() {
    TestCa other = TestCa.create("other");
    List<java.security.cert.X509Certificate> certs = Pem.certificates(CERT + other.certificatePem(), "bundle");
    assertThat(certs).containsExactly(CA.certificate(), other.certificate());
    assertThat(Pem.certificates(Pem.encodeCertificates(certs), "again")).isEqualTo(certs);
  }

  @Test
  void rejectsEmptyAndBlankInput() {
    assertThatThrownBy(() -> Pem.certificates("", "ConfigMap x key ca.crt"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("ConfigMap x key ca.crt is empty");
    assertThatThrownBy(() -> Pem.certificates(null, "in")).isInstanceOf(InvalidMaterialException.class);
    assertThatThrownBy(() -> Pem.certificates(" \n", "in")).hasMessageContaining("is empty");
  }

  @Test
  void rejectsTextWithoutBlocks() {
    assertThatThrownBy(() -> Pem.certificates("hello world", "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("holds no PEM block");
  }

  @Test
  void rejectsTruncatedBlock() {
    String truncated = CERT.substring(0, CERT.length() / 2);
    assertThatThrownBy(() -> Pem.certificates(truncated, "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("broken PEM block");
  }

  @Test
  void rejectsTruncatedBase64() {
    String body = CERT.replace("-----END CERTIFICATE-----", "");
    String cut = body.substring(0, body.length() - 3) + "\n-----END CERTIFICATE-----\n";
    assertThatThrownBy(() -> Pem.certificates(cut, "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("truncated");
  }

  @Test
  void rejectsWrongBlockType() {
    String csr = Pem.encode("CERTIFICATE REQUEST", new byte[] {1, 2, 3});
    assertThatThrownBy(() -> Pem.certificates(CERT + csr, "in"))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("block 2 is a 'CERTIFICATE REQUEST', expected only CERTIFICATE blocks");
  }

  @Test
  void rejectsBadBase64() {
    String bad = "-----BEGIN CERTIFICATE-----\nMIIB*AAA\n-----END CERTIFICATE-----\n";
    assertThatThrownBy(() -> Pem.certificates(bad, "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("'*', which is not base64");
  }

  @Test
  void rejectsBeginEndMismatch() {
    String mismatch = CERT.replace("-----END CERTIFICATE-----", "-----END PRIVATE KEY-----");
    assertThatThrownBy(() -> Pem.certificates(mismatch, "in"))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("begins as 'CERTIFICATE' but ends as 'PRIVATE KEY'");
  }

  @Test
  void rejectsOversizedInput() {
    String huge = "x".repeat(Pem.MAX_PEM_CHARS + 1);
    assertThatThrownBy(() -> Pem.certificates(huge, "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("more than the " + Pem.MAX_PEM_CHARS);
  }

  @Test
  void rejectsTooManyCertificates() {
    String many = CERT.repeat(Pem.MAX_CERTIFICATES + 1);
    assertThatThrownBy(() -> Pem.certificates(many, "in")).hasMessageContaining("certificates accepted");
  }

  @Test
  void rejectsBase64ThatIsNotACertificate() {
    String notDer = Pem.encode("CERTIFICATE", "definitely not DER".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    assertThatThrownBy(() -> Pem.certificates(notDer, "in"))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("certificate 1 is not acceptable DER: an element at byte 2 is longer (101) than what holds it");
    // Well-formed DER that is not a certificate reaches the parser, which says so.
    String notCertificate = Pem.encode("CERTIFICATE", new byte[] {0x30, 0x03, 0x02, 0x01, 0x05});
    assertThatThrownBy(() -> Pem.certificates(notCertificate, "in"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("certificate 1 does not parse");
  }
}
