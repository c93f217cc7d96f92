package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.TestCsr;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERUTF8String;
import org.junit.jupiter.api.Test;

public class Asn1LimitsTest {

  /** {@code depth} nested SEQUENCEs around an empty one, in definite-length DER (built back to front). */
  public static byte[] nested(int depth) {
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
    out[pos + 1] = 0;
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
  void ordinaryRequestsPass() {
    for (TestCsr csr : java.util.List.of(TestCsr.builder().subject("CN=web").dns("web.shop.svc").ip("10.1.2.3")
        .uri("spiffe://cluster.local/ns/shop/sa/web"), TestCsr.builder().key(TestCsr.rsaKey()).uri("spiffe://a/b"))) {
      byte[] der = Pem.blocks(csr.pem(), "t").get(0).der();
      assertThatCode(() -> Asn1Limits.check(der, Asn1Limits.MAX_REQUEST_BYTES, Asn1Limits.MAX_DEPTH, "t"))
          .doesNotThrowAnyException();
    }
  }

  @Test
  void depthIsCountedUpToTheLimit() throws Exception {
    assertThatCode(() -> Asn1Limits.check(nested(31), 1 << 20, 32, "t")).doesNotThrowAnyException();
    assertThatThrownBy(() -> Asn1Limits.check(nested(32), 1 << 20, 32, "t"))
        .isInstanceOf(InvalidMaterialException.class).hasMessage("t nests ASN.1 structures more than 32 levels deep");
    // Nesting hidden inside an OCTET STRING (where extension values live) counts too.
    byte[] wrapped = new DERSequence(new DEROctetString(nested(40))).getEncoded();
    assertThatThrownBy(() -> Asn1Limits.check(wrapped, 1 << 20, 32, "t")).hasMessageContaining("levels deep");
    // Opaque bytes in an OCTET STRING are just bytes.
    byte[] opaque = new DERSequence(new DEROctetString(new byte[] {0x30, 0x7f, 1, 2})).getEncoded();
    assertThatCode(() -> Asn1Limits.check(opaque, 1 << 20, 32, "t")).doesNotThrowAnyException();
  }

  @Test
  void aHugelyNestedInputIsRefusedWithoutRecursingThroughIt() {
    // 50,000 levels: enough to overflow a parser's stack; refused at level 33.
    byte[] deep = nested(50_000);
    assertThat(deep.length).isLessThan(Asn1Limits.MAX_REQUEST_BYTES);
    assertThatThrownBy(() -> Asn1Limits.check(deep, Asn1Limits.MAX_REQUEST_BYTES, Asn1Limits.MAX_DEPTH, "spec.request"))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("more than 32 levels");
  }

  @Test
  void malformedAndOversizedInputsAreNamed() throws Exception {
    byte[] ok = new DERSequence(new DERUTF8String("x")).getEncoded();
    assertThatThrownBy(() -> Asn1Limits.check(ok, ok.length - 1, 32, "t")).hasMessageContaining("at most");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[0], 10, 32, "t")).hasMessageContaining("empty");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[] {0x30, (byte) 0x80, 0, 0}, 10, 32, "t"))
        .hasMessageContaining("indefinite length");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[] {0x30, 0x05, 0}, 10, 32, "t"))
        .hasMessageContaining("runs past");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[] {0x30, 0x00, 0x00}, 10, 32, "t"))
        .hasMessageContaining("trailing");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[] {0x30, (byte) 0x85, 1, 1, 1, 1, 1}, 10, 32, "t"))
        .hasMessageContaining("length of 5 bytes");
    assertThatThrownBy(() -> Asn1Limits.check(new byte[] {0x1f, (byte) 0x81, (byte) 0x81, (byte) 0x81,
        (byte) 0x81, 0x01, 0x00}, 10, 32, "t")).hasMessageContaining("tag number");
  }
}
