package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.signer.internal.ApprovalPolicy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Coverage-guided fuzz test of {@link SignerConfig#parse}, the signer's reading of its flags and
 * {@code KUBE_MTLS_*} environment. The input is text, one item per line: a line
 * {@code env:NAME=value} sets an environment variable, any other line is one command-line argument.
 * The seeds are valid flag sets (the deployment's, every flag, the environment form, the
 * {@code --flag value} form).
 *
 * <p>The contract, from the Javadoc: invalid input is rejected with an
 * {@link IllegalArgumentException} whose message names the flag (so it always mentions a
 * {@code --flag}); nothing else escapes, and an accepted configuration is valid, which the record's
 * constructor checks.
 */
class SignerConfigFuzzTest {

  @FuzzTest
  void parse(byte[] input) {
    List<String> args = new ArrayList<>();
    Map<String, String> environment = new LinkedHashMap<>();
    for (String line : new String(input, StandardCharsets.UTF_8).split("\n", -1)) {
      if (line.startsWith("env:")) {
        int eq = line.indexOf('=');
        if (eq > 4) {
          environment.put(line.substring(4, eq), line.substring(eq + 1));
        }
      } else if (!line.isEmpty()) {
        args.add(line);
      }
    }
    SignerConfig config;
    try {
      config = SignerConfig.parse(args, environment);
    } catch (IllegalArgumentException expected) {
      assertThat(expected.getClass()).as("the exception type, for %s", expected).isEqualTo(IllegalArgumentException.class);
      assertThat(expected.getMessage()).as("the message names the flag").contains("--");
      return;
    }
    assertThat(config).isEqualTo(SignerConfig.parse(args, environment));
    assertThat(ApprovalPolicy.forConfig(config)).isNotNull();
    assertThat(config.caRetention()).isPositive();
  }
}
