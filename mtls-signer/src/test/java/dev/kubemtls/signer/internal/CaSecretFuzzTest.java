package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.CertificateChecks;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;

/**
 * Coverage-guided fuzz test of the CA Secret reader, {@link CertificateAuthority#fromPem} (what
 * {@link CertificateAuthority#fromSecret} calls with {@code tls.crt} and {@code tls.key}). The input
 * is both texts separated by a NUL byte, as US-ASCII; the clock is fixed inside the seed CAs'
 * validity.
 *
 * <p>The contract: anything unusable raises {@link InvalidMaterialException} and nothing else (no
 * {@link IllegalArgumentException} for a key algorithm the CA cannot sign with, no
 * {@link StackOverflowError} for deep nesting: {@code DerLimits} refuses it first), within
 * seconds; a CA it accepts is a CA certificate whose key matches, valid at the clock's instant.
 *
 * <p>In a plain build this runs once per committed seed ({@code CaSecretFuzzTestInputs/fromPem/}: EC
 * keys in PKCS#8 and SEC 1 form, an RSA CA, a key that does not match, a leaf, and 2,000 nested
 * SEQUENCEs in place of the certificate).
 */
class CaSecretFuzzTest {

  private static final Duration TOO_SLOW = Duration.ofSeconds(2);
  private static final InstantSource CLOCK = InstantSource.fixed(Instant.parse("2027-01-01T00:00:00Z"));
  private static final SecureRandom RANDOM = new SecureRandom();

  @FuzzTest
  void fromPem(byte[] input) {
    String text = new String(input, StandardCharsets.US_ASCII);
    int nul = text.indexOf('\0');
    String cert = nul < 0 ? text : text.substring(0, nul);
    String key = nul < 0 ? "" : text.substring(nul + 1);
    long start = System.nanoTime();
    CertificateAuthority ca;
    try {
      ca = CertificateAuthority.fromPem(cert, key, "Secret fuzz/ca", ValidityPolicy.DEFAULT, CLOCK, RANDOM);
    } catch (InvalidMaterialException expected) {
      return;
    } finally {
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(TOO_SLOW);
    }
    assertThat(ca.certificate().getBasicConstraints()).isGreaterThanOrEqualTo(0);
    assertThat(CertificateChecks.keyMatches(ca.certificate().getPublicKey(), ca.keyPair().key())).isTrue();
    assertThat(ca.certificate().getNotAfter().toInstant()).isAfter(CLOCK.instant());
    assertThat(ca.certificate().getNotBefore().toInstant()).isBeforeOrEqualTo(CLOCK.instant());
  }
}
