package dev.kubemtls.core.peer;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import java.io.ByteArrayInputStream;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;

/**
 * Coverage-guided fuzz test of {@link PeerIdentity#of}, what every integration reads from a peer's
 * certificate after the handshake verified its chain. The input is the DER of a certificate; what
 * the JDK's X.509 factory refuses never reaches a peer policy and is skipped.
 *
 * <p>The contract: {@link PeerIdentity#of} raises {@link InvalidMaterialException} (a malformed SAN
 * extension, more than one URI SAN) and nothing else; a SPIFFE ID it reports is a valid
 * {@link SpiffeId} and the certificate's only URI SAN; its trust domain is that ID's; it takes no
 * seconds for any input.
 *
 * <p>In a plain build this runs once per committed seed ({@code PeerIdentityFuzzTestInputs/of/}: a
 * workload leaf with a SPIFFE ID, DNS and IP SANs; a leaf with two URI SANs; a leaf with a non-SPIFFE
 * URI; a CA without SANs).
 */
class PeerIdentityFuzzTest {

  private static final Duration TOO_SLOW = Duration.ofSeconds(2);

  @FuzzTest
  void of(byte[] input) throws CertificateException {
    X509Certificate certificate;
    try {
      certificate = (X509Certificate) CertificateFactory.getInstance("X.509")
          .generateCertificate(new ByteArrayInputStream(input));
    } catch (CertificateException | RuntimeException notACertificate) {
      return;
    }
    // This thread's CPU time, not wall time: a blow-up burns it, while a loaded machine only makes the
    // thread wait (descheduled, or stopped for a garbage collection).
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    assertThat(threads.isCurrentThreadCpuTimeSupported())
        .as("this JVM measures a thread's CPU time (the time limit needs it)").isTrue();
    long start = threads.getCurrentThreadCpuTime();
    PeerIdentity identity;
    try {
      identity = PeerIdentity.of(certificate);
    } catch (InvalidMaterialException expected) {
      return;
    } finally {
      assertThat(Duration.ofNanos(threads.getCurrentThreadCpuTime() - start)).as("CPU time to read the identity")
          .isLessThan(TOO_SLOW);
    }
    assertThat(identity.subject()).isNotNull();
    identity.spiffeId().ifPresent(id -> {
      assertThat(SpiffeId.isValid(id)).isTrue();
      assertThat(identity.trustDomain()).contains(SpiffeId.parse(id).trustDomain());
    });
    if (identity.spiffeId().isEmpty()) {
      assertThat(identity.trustDomain()).isEmpty();
    }
  }
}
