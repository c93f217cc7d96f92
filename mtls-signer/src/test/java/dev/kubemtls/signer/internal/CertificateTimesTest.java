package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.util.Date;
import java.util.SplittableRandom;
import org.bouncycastle.asn1.x509.Time;
import org.junit.jupiter.api.Test;

/** The validity times are encoded byte for byte as BouncyCastle's {@code new Time(Date)} encodes them. */
class CertificateTimesTest {

  private static void sameAsBouncyCastle(Instant instant) throws Exception {
    assertThat(CertificateTimes.of(instant).getEncoded()).as("%s", instant)
        .isEqualTo(new Time(Date.from(instant)).getEncoded());
  }

  @Test
  void theBoundariesOfUtcTimeAndTheEdgesOfADay() throws Exception {
    for (String s : new String[] {"1949-12-31T23:59:59.999Z", "1950-01-01T00:00:00Z", "2049-12-31T23:59:59.999Z",
        "2050-01-01T00:00:00Z", "2000-02-29T12:00:00Z", "2026-12-07T23:59:59.500Z", "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z", "1600-01-01T00:00:00Z"}) {
      sameAsBouncyCastle(Instant.parse(s));
    }
    assertThat(new String(CertificateTimes.of(Instant.parse("2031-04-05T06:07:08.9Z")).getEncoded(), 2, 13,
        java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("310405060708Z");
  }

  @Test
  void randomInstantsFrom1900To2200() throws Exception {
    SplittableRandom random = new SplittableRandom(28);
    long from = Instant.parse("1900-01-01T00:00:00Z").toEpochMilli();
    long to = Instant.parse("2200-01-01T00:00:00Z").toEpochMilli();
    for (int i = 0; i < 5_000; i++) {
      sameAsBouncyCastle(Instant.ofEpochMilli(random.nextLong(from, to)));
    }
  }

  @Test
  void yearsX509CannotWriteAreRefused() {
    assertThatThrownBy(() -> CertificateTimes.of(Instant.parse("+10000-01-01T00:00:00Z")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("9999");
    assertThatThrownBy(() -> CertificateTimes.of(Instant.parse("1582-10-15T00:00:00Z")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1600");
  }
}
