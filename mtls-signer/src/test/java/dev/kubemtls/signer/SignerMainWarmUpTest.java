package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.internal.WarmUp;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The program checks {@code -Dkube-mtls.signer.warm-up} like its flags: a value that is not a count
 * of requests stops it with exit status 2 and a message naming the property, before it connects to
 * anything (no API server is given here).
 */
class SignerMainWarmUpTest {

  private static Process signerMain(String warmUp) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(List.of(java, "-D" + WarmUp.PROPERTY + "=" + warmUp,
        "-cp", System.getProperty("java.class.path"), SignerMain.class.getName(),
        "--signer-name=kube-mtls.dev/warm-up-flag", "--ca-secret-namespace=kube-mtls", "--identity=warm-up-flag-test"))
        .redirectErrorStream(true).start();
  }

  @Test
  void aBadCountStopsTheSignerWithStatusTwo() throws Exception {
    for (String bad : List.of("ten", "-1", "10001")) {
      Process p = signerMain(bad);
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("exited").isTrue();
      assertThat(p.exitValue()).as(output).isEqualTo(2);
      assertThat(output).contains("kube-mtls signer: invalid configuration: " + WarmUp.PROPERTY);
    }
  }
}
