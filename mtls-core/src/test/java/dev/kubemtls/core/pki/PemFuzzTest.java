package dev.kubemtls.core.pki;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Coverage-guided fuzz tests of {@link Pem}, the reader of every PEM text kube-mtls takes from
 * outside the process (ConfigMaps, Secrets, CSR fields). The input is the text as a ConfigMap or
 * Secret value carries it (UTF-8).
 *
 * <p>The contract, from {@link Pem}'s Javadoc: a malformed input raises {@link InvalidMaterialException}
 * and nothing else; what is returned is usable (every block has a type and DER bytes, encoding it
 * again reads back the same), and a private key's material never appears in a message. Reading is linear in the input: no
 * input (the largest seed is 64 KiB) may take seconds.
 *
 * <p>In a plain build these run once per committed seed ({@code PemFuzzTestInputs/<method>/}: real
 * bundles, chains, CSRs and keys of every supported form); see the README for fuzzing.
 */
class PemFuzzTest {

  /** Milliseconds of CPU are normal for the largest seed; this much means a blow-up, not a slow machine. */
  static final Duration TOO_SLOW = Duration.ofSeconds(2);

  static {
    // Class loading and the first use of the JDK's X.509 and key factories are not the parser's
    // time: do them once before any input is timed.
    String ca = resource("/dev/kubemtls/core/pki/PemFuzzTestInputs/certificates/single-ca.pem");
    Pem.blocks(ca, "warm-up");
    Pem.certificates(ca, "warm-up");
    Pem.privateKey(resource("/dev/kubemtls/core/pki/PemFuzzTestInputs/privateKey/ec-pkcs8.pem"), "warm-up");
    Pem.privateKey(resource("/dev/kubemtls/core/pki/PemFuzzTestInputs/privateKey/rsa-pkcs1.pem"), "warm-up");
  }

  private static final Pattern BASE64_LINE = Pattern.compile("[A-Za-z0-9+/=]{16,}");

  @FuzzTest
  void blocks(byte[] input) {
    String pem = new String(input, StandardCharsets.UTF_8);
    List<Pem.Block> blocks;
    try {
      blocks = quickly(() -> Pem.blocks(pem, "fuzz input"));
    } catch (InvalidMaterialException expected) {
      assertThat(expected).hasMessageStartingWith("fuzz input");
      return;
    }
    assertThat(blocks).isNotEmpty();
    StringBuilder again = new StringBuilder();
    for (Pem.Block b : blocks) {
      assertThat(b.type()).matches("[A-Z0-9 ]{1,64}");
      assertThat(b.der()).isNotEmpty();
      again.append(Pem.encode(b.type(), b.der()));
    }
    List<Pem.Block> reread = Pem.blocks(again.toString(), "re-encoded fuzz input");
    assertThat(reread).hasSameSizeAs(blocks);
    for (int i = 0; i < blocks.size(); i++) {
      assertThat(reread.get(i).type()).isEqualTo(blocks.get(i).type());
      assertThat(reread.get(i).der()).isEqualTo(blocks.get(i).der());
    }
  }

  @FuzzTest
  void certificates(byte[] input) {
    String pem = new String(input, StandardCharsets.UTF_8);
    List<X509Certificate> certificates;
    try {
      certificates = quickly(() -> Pem.certificates(pem, "fuzz input"));
    } catch (InvalidMaterialException expected) {
      return;
    }
    assertThat(certificates).isNotEmpty().hasSizeLessThanOrEqualTo(Pem.MAX_CERTIFICATES);
    assertThat(Pem.certificates(Pem.encodeCertificates(certificates), "re-encoded fuzz input"))
        .isEqualTo(certificates);
  }

  @FuzzTest
  void privateKey(byte[] input) {
    String pem = new String(input, StandardCharsets.UTF_8);
    PrivateKey key;
    try {
      key = quickly(() -> Pem.privateKey(pem, "fuzz input"));
    } catch (InvalidMaterialException expected) {
      String message = String.valueOf(expected.getMessage());
      for (String line : pem.split("\\R")) {
        String trimmed = line.strip();
        if (BASE64_LINE.matcher(trimmed).matches()) {
          assertThat(message).as("a message about a key must not quote its material").doesNotContain(trimmed);
        }
      }
      return;
    }
    assertThat(key).isNotNull();
    assertThat(key.getAlgorithm()).isIn("EC", "RSA", "Ed25519", "EdDSA");
  }

  private static String resource(String name) {
    try (java.io.InputStream in = PemFuzzTest.class.getResourceAsStream(name)) {
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * Runs {@code parse}, failing if it took {@link #TOO_SLOW} or longer of this thread's CPU time,
   * whatever its outcome. CPU time, not wall time: a blow-up burns the parsing thread's CPU, while a
   * loaded machine only makes the thread wait (descheduled, or stopped for a garbage collection),
   * which wall time would count.
   */
  static <T> T quickly(Supplier<T> parse) {
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    assertThat(threads.isCurrentThreadCpuTimeSupported())
        .as("this JVM measures a thread's CPU time (the fuzz tests' time limit needs it)").isTrue();
    long start = threads.getCurrentThreadCpuTime();
    try {
      return parse.get();
    } finally {
      Duration took = Duration.ofNanos(threads.getCurrentThreadCpuTime() - start);
      assertThat(took).as("CPU time to parse the input").isLessThan(TOO_SLOW);
    }
  }
}
