package dev.kubemtls.samples.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./demo --help} answers at once: the script prints the usage before it installs, finds or
 * builds anything. The test runs the real script in a directory that holds only the script and the
 * usage file, with no Maven wrapper and no {@code scripts/}, so any attempt to build fails the run.
 */
class DemoHelpTest {

  private static final String USAGE_FILE = "samples/src/main/resources/dev/kubemtls/samples/demo/usage.txt";

  @Test
  void helpPrintsTheUsageWithoutBuilding(@TempDir Path dir) throws Exception {
    Path repository = Path.of("").toAbsolutePath().getParent();  // Surefire runs in the module directory
    Files.copy(repository.resolve("demo"), dir.resolve("demo"));
    Files.createDirectories(dir.resolve(USAGE_FILE).getParent());
    Files.copy(repository.resolve(USAGE_FILE), dir.resolve(USAGE_FILE));
    for (String flag : new String[] {"--help", "-h"}) {
      Process p = new ProcessBuilder("bash", dir.resolve("demo").toString(), "--duration=90s", flag)
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("demo %s finished", flag).isTrue();
      assertThat(p.exitValue()).as("demo %s exit code; output:%n%s", flag, out).isZero();
      // The Java program's usage is the same text (both read the one file).
      assertThat(out).isEqualTo(DemoOptions.USAGE).startsWith("usage: demo ");
    }
  }
}
