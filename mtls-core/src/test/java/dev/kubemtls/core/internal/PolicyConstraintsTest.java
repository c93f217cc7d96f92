package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.tls.TlsPolicy;
import java.security.CryptoPrimitive;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PolicyConstraintsTest {

  private static final Set<CryptoPrimitive> SIGN = EnumSet.of(CryptoPrimitive.SIGNATURE);
  private static final Set<CryptoPrimitive> AGREE = EnumSet.of(CryptoPrimitive.KEY_AGREEMENT);

  @Test
  void thePolicysSchemesAndGroupsAreAllowedOthersRefusedOtherNamesLeftToTheJdk() {
    PolicyConstraints c = new PolicyConstraints(TlsPolicy.defaults());
    for (int pass = 0; pass < 2; pass++) { // the second pass answers from memory
      assertThat(c.permits(SIGN, "ecdsa_secp256r1_sha256", null)).isTrue();
      assertThat(c.permits(SIGN, "ECDSA_SECP256R1_SHA256", null)).isTrue();
      assertThat(c.permits(SIGN, "ecdsa_sha1", null)).isFalse();
      assertThat(c.permits(SIGN, "rsa_pkcs1_sha1", null)).isFalse();
      assertThat(c.permits(AGREE, "x25519", null)).isTrue();
      assertThat(c.permits(AGREE, "secp256r1", null)).isTrue();
      assertThat(c.permits(AGREE, "x448", null)).isFalse();
      assertThat(c.permits(AGREE, "ffdhe2048", null)).isFalse();
      assertThat(c.permits(SIGN, "SHA256withECDSA", null)).isTrue();
      assertThat(c.permits(SIGN, null, null)).isTrue();
    }
  }

  @Test
  void memoryIsBoundedAndNamesBeyondItAreStillJudged() {
    PolicyConstraints c = new PolicyConstraints(TlsPolicy.defaults());
    for (int i = 0; i < 3 * PolicyConstraints.REMEMBERED; i++) {
      assertThat(c.permits(SIGN, "1.2.840.10045.4.3." + i, null)).isTrue();
    }
    assertThat(c.remembered()).isLessThanOrEqualTo(PolicyConstraints.REMEMBERED);
    assertThat(c.permits(SIGN, "ecdsa_sha1", null)).isFalse();
    assertThat(c.permits(AGREE, "x448", null)).isFalse();
    assertThat(c.permits(AGREE, "secp384r1", null)).isTrue();
  }

  @Test
  void withheldGroupsAreRefusedTheRestOfThePolicyStands() {
    PolicyConstraints c = new PolicyConstraints(TlsPolicy.defaults(), Set.of("x25519"));
    assertThat(c.permits(AGREE, "x25519", null)).isFalse();
    assertThat(c.permits(AGREE, "secp256r1", null)).isTrue();
    assertThat(c.permits(SIGN, "ecdsa_secp256r1_sha256", null)).isTrue();
    assertThat(c.groups()).containsExactlyInAnyOrder("secp256r1", "secp384r1");
  }
}
