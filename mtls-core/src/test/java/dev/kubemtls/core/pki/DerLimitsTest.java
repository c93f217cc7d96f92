package dev.kubemtls.core.pki;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.testkit.TestCa;
import java.util.Base64;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERUTF8String;
import org.junit.jupiter.api.Test;

class DerLimitsTest {

  /** {@code depth} nested SEQUENCEs around an empty one, in definite-length DER (built back to front). */
  static byte[] nested(int depth) {
    int[] headers = new int[depth];
    long total = 2;
    for (int i = 0; i < depth; i++) {
      int h = total < 0x80 ? 2 : total < 0x100 ? 3 : total < 0x10000 ? 4 : 5;
      headers[i] = h;
      total += h;
    }
    byte[] out = new byte[(int) total];
    int pos = out.length - 2;
    out[pos] = 0x30;
    for (int i = 0; i < depth; i++) {
      int len = out.length - pos;
      int h = headers[i];
      pos -= h;
      out[pos] = 0x30;
      if (h == 2) {
        out[pos + 1] = (byte) len;
      } else {
        out[pos + 1] = (byte) (0x80 | (h - 2));
        for (int k = 0; k < h - 2; k++) {
          out[pos + h - 1 - k] = (byte) (len >> (8 * k));
        }
      }
    }
    return out;
  }

  @Test
  void realCertificatesAndKeysPass() {
    TestCa ca = TestCa.create("limits");
    java.security.KeyPair key = TestCa.newKeyPair();
    java.security.cert.X509Certificate leaf = ca.leaf(key.getPublic()).commonName("web").dns("web.shop.svc")
        .spiffe("shop", "web").build();
    for (String pem : new String[] {ca.certificatePem(), TestCa.toPem(leaf), TestCa.toPem(key.getPrivate())}) {
      for (Pem.Block b : Pem.blocks(pem, "t")) {
        assertThat(DerLimits.certificate().problem(b.der())).isEmpty();
        assertThat(DerLimits.certificate().encoding(DerLimits.Encoding.DER).problem(b.der())).isEmpty();
      }
    }
  }

  @Test
  void depthIsCountedUpToTheLimitAndInsideDerStrings() throws Exception {
    DerLimits limits = DerLimits.of(1 << 20, 32).inspectingStrings();
    assertThat(limits.problem(nested(31))).isEmpty();
    assertThat(limits.problem(nested(32))).contains("ASN.1 structures nested deeper than 32 levels");
    byte[] wrapped = new DERSequence(new DEROctetString(nested(40))).getEncoded();
    assertThat(limits.problem(wrapped)).hasValueSatisfying(p -> assertThat(p).contains("nested deeper than"));
    // Without inspecting strings, the OCTET STRING's contents are opaque.
    assertThat(DerLimits.of(1 << 20, 32).problem(wrapped)).isEmpty();
    // Bytes in an OCTET STRING that are not DER are opaque either way.
    byte[] opaque = new DERSequence(new DEROctetString(new byte[] {0x30, 0x7f, 1, 2})).getEncoded();
    assertThat(limits.problem(opaque)).isEmpty();
  }

  @Test
  void aHugelyNestedInputIsRefusedWithoutRecursingThroughIt() {
    byte[] deep = nested(50_000);
    assertThat(DerLimits.of(DerLimits.MAX_REQUEST_BYTES, DerLimits.MAX_DEPTH).problem(deep))
        .hasValueSatisfying(p -> assertThat(p).contains("deeper than 32 levels"));
  }

  @Test
  void malformedAndOversizedInputsAreNamed() throws Exception {
    byte[] ok = new DERSequence(new DERUTF8String("x")).getEncoded();
    assertThat(DerLimits.of(ok.length - 1, 32).problem(ok)).hasValueSatisfying(p -> assertThat(p).contains("at most"));
    DerLimits l = DerLimits.of(10, 32);
    assertThat(l.problem(new byte[0])).contains("no bytes");
    assertThat(l.problem(new byte[] {0x30, (byte) 0x80, 0, 0})).hasValueSatisfying(p -> assertThat(p).contains("indefinite"));
    assertThat(l.problem(new byte[] {0x30, 0x05, 0})).hasValueSatisfying(p -> assertThat(p).contains("longer (5)"));
    assertThat(l.problem(new byte[] {0x30, 0x00, 0x00})).contains("1 bytes after the end of the structure");
    assertThat(l.problem(new byte[] {0x30, (byte) 0x85, 1, 1, 1, 1, 1})).hasValueSatisfying(p -> assertThat(p).contains("length of 5 bytes"));
    assertThat(l.problem(new byte[] {0x1f, (byte) 0x81, (byte) 0x81, (byte) 0x81, (byte) 0x81, 0x01, 0x00}))
        .hasValueSatisfying(p -> assertThat(p).contains("tag number"));
    // A long-form length where the short form fits: accepted as a definite length, refused as DER.
    byte[] ber = {0x30, (byte) 0x81, 0x00};
    assertThat(l.problem(ber)).isEmpty();
    assertThat(l.encoding(DerLimits.Encoding.DER).problem(ber)).hasValueSatisfying(p -> assertThat(p).contains("shortest form"));
  }

  @Test
  void pemRefusesADeepCertificateBeforeAnyParserSeesIt() {
    String pem = "-----BEGIN CERTIFICATE-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(nested(2_000))
        + "\n-----END CERTIFICATE-----\n";
    assertThatThrownBy(() -> Pem.certificates(pem, "status.certificate"))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessage("status.certificate: certificate 1 is not acceptable DER: ASN.1 structures nested deeper than 32 levels");
    String key = pem.replace("CERTIFICATE", "PRIVATE KEY");
    assertThatThrownBy(() -> Pem.privateKey(key, "tls.key"))
        .isInstanceOf(InvalidMaterialException.class)
        .hasMessageContaining("tls.key: the PRIVATE KEY block is not acceptable DER");
  }
}
