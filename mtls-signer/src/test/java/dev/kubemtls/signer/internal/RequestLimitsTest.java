package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.DerLimits;
import dev.kubemtls.core.pki.Pem;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERUTF8String;
import org.junit.jupiter.api.Test;

/** Requests and CA material as ordinary tools write them pass the limits the signer applies; see core's DerLimitsTest for the walker. */
public class RequestLimitsTest {

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
      assertThatCode(() -> ParsedCsr.parse(csr.pem())).doesNotThrowAnyException();
      assertThat(DerLimits.of(DerLimits.MAX_REQUEST_BYTES, DerLimits.MAX_DEPTH).inspectingStrings().problem(der)).isEmpty();
    }
  }

  @Test
  void aHugelyNestedRequestIsRefusedWithoutRecursingThroughIt() {
    String pem = Pem.encode("CERTIFICATE REQUEST", nested(50_000));
    assertThatThrownBy(() -> ParsedCsr.parse(pem)).isInstanceOf(InvalidMaterialException.class)
        .hasMessage("spec.request is not acceptable DER: ASN.1 structures nested deeper than 32 levels");
  }
}
