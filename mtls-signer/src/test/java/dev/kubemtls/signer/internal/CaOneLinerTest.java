package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's one-liner that makes a CA ("Deploying the signer") makes one the signer accepts:
 * the test runs the very line the README shows (with OpenSSL, as a reader would) and loads the
 * result the way the signer loads its CA Secret (a CA certificate, its key, valid now).
 */
class CaOneLinerTest {

  @Test
  void theReadmesOpensslLineMakesACaTheSignerLoads(@TempDir Path dir) throws Exception {
    Path readme = Path.of("").toAbsolutePath().getParent().resolve("README.md");
    java.util.List<String> lines = Files.readAllLines(readme).stream().map(String::strip)
        .filter(l -> l.startsWith("openssl req -x509")).distinct().toList();
    // The README shows it twice (Deploying the signer, Run it locally): the same line both times.
    assertThat(lines).as("README.md's 'openssl req -x509' lines").hasSize(1);
    String line = lines.get(0);
    Process p = new ProcessBuilder("bash", "-c", line).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("exit code of `%s`; output:%n%s", line, out).isZero();

    CertificateAuthority ca = CertificateAuthority.fromPem(Files.readString(dir.resolve("ca.crt")),
        Files.readString(dir.resolve("ca.key")), "the README's CA", ValidityPolicy.DEFAULT, InstantSource.system(),
        new SecureRandom());
    assertThat(ca.certificate().getSubjectX500Principal().getName()).isEqualTo("CN=kube-mtls CA");
    assertThat(Duration.between(ca.certificate().getNotBefore().toInstant(), ca.certificate().getNotAfter().toInstant()))
        .isGreaterThanOrEqualTo(Duration.ofDays(364));
  }
}
