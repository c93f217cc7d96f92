package dev.kubemtls.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * Coverage-guided fuzz tests of what a workload does with {@code status.certificate}: the PEM
 * parse and {@link IssuedCertificateValidator}. The requester, its key and its CA are fixed
 * (committed under {@code fuzz/issued-certificate/}); the seeds are certificates that CA issued for
 * that key, valid at {@link #NOW}, so a seed passes every check and a mutation can fail any one.
 *
 * <p>The contract, from the class Javadoc: every problem raises {@link CertificateFailedException}
 * with reason {@value IssuedCertificateValidator#REASON} and nothing partial is returned; an
 * accepted chain starts with a leaf for the requester's key.
 *
 * <ul>
 *   <li>{@code statusCertificate}: the bytes of the decoded {@code status.certificate}, read as
 *       {@code CertificateIssuer} reads them (US-ASCII).</li>
 *   <li>{@code leafDer}: the DER of a leaf, wrapped in PEM and followed by the CA, so that the
 *       fuzzer mutates the certificate itself rather than its base64.</li>
 * </ul>
 */
class IssuedCertificateValidatorFuzzTest {

  private static final Instant NOW = Instant.parse("2030-06-01T12:00:00Z");
  private static final WorkloadIdentity IDENTITY = WorkloadIdentity.builder("shop", "orders").services("orders")
      .podIp("10.1.2.3").role(Role.BOTH).build();
  private static final X509Certificate CA = Pem.certificates(resource("ca.crt"), "ca.crt").get(0);
  private static final PublicKey KEY = publicKey(resource("workload.pub"));
  private static final IssuedCertificateValidator VALIDATOR =
      new IssuedCertificateValidator(IDENTITY, KEY, new TrustBundle(List.of(CA), "fuzz"), Duration.ofMinutes(2));

  @FuzzTest
  void statusCertificate(byte[] input) {
    check(new String(input, StandardCharsets.US_ASCII));
  }

  @FuzzTest
  void leafDer(byte[] input) {
    if (input.length == 0) {
      return; // Pem.encode of nothing is an empty block, which the PEM reader tests cover
    }
    check(Pem.encode("CERTIFICATE", input) + Pem.encodeCertificates(List.of(CA)));
  }

  private static void check(String pem) {
    List<X509Certificate> chain;
    try {
      chain = VALIDATOR.validate("csr-fuzz", pem, NOW);
    } catch (CertificateFailedException expected) {
      assertThat(expected.reason()).isEqualTo(IssuedCertificateValidator.REASON);
      assertThat(expected.csrName()).isEqualTo("csr-fuzz");
      return;
    }
    assertThat(chain).isNotEmpty();
    assertThat(chain.get(0).getPublicKey().getEncoded()).isEqualTo(KEY.getEncoded());
    assertThat(chain.get(0).getBasicConstraints()).isLessThan(0);
  }

  private static String resource(String name) {
    try (InputStream in = IssuedCertificateValidatorFuzzTest.class.getResourceAsStream(
        "/fuzz/issued-certificate/" + name)) {
      if (in == null) {
        throw new IllegalStateException("missing test resource fuzz/issued-certificate/" + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static PublicKey publicKey(String pem) {
    try {
      return KeyFactory.getInstance("EC").generatePublic(
          new X509EncodedKeySpec(Pem.blocks(pem, "workload.pub").get(0).der()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
