package dev.kubemtls.samples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Runs the demo, the project's main job, exactly as the README's command does (its own JVM, its
 * own embedded control plane, the signer and the services, a Kafka broker and PostgreSQL as separate
 * processes), with a short duration, and holds it to its promise: no failed request, send or query,
 * every Kafka message consumed exactly once, certificates rotated, the CA rotated.
 */
class DemoIT {

  private static final Pattern SUMMARY = Pattern.compile(
      "^SUMMARY requests=(\\d+) failed=(\\d+) cert_rotations=(\\d+) ca_rotations=(\\d+) duration_s=(\\d+)"
          + " signed=(\\d+) denied=(\\d+) grpc_calls=(\\d+) kafka_sent=(\\d+) kafka_received=(\\d+)"
          + " kafka_failed=(\\d+) db_queries=(\\d+) db_failed=(\\d+)$");
  private static final Pattern SIGNER_METRICS = Pattern.compile("^SIGNER_METRICS issued=(\\d+) denied=(\\d+) .*");

  @Test
  void demoRunsRotatesAndFailsNothing() throws Exception {
    List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), "dev.kubemtls.samples.demo.Demo",
        "--duration=100s", "--cert-ttl=40s", "--ca-rotation-at=10s");
    Process demo = new ProcessBuilder(command).redirectErrorStream(true).start();
    List<String> output = new ArrayList<>();
    Map<String, Long> summary = new HashMap<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(demo.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        System.out.println("demo| " + line);
        output.add(line);
        Matcher m = SUMMARY.matcher(line);
        if (m.matches()) {
          summary.put("requests", Long.parseLong(m.group(1)));
          summary.put("failed", Long.parseLong(m.group(2)));
          summary.put("cert_rotations", Long.parseLong(m.group(3)));
          summary.put("ca_rotations", Long.parseLong(m.group(4)));
          summary.put("duration_s", Long.parseLong(m.group(5)));
          summary.put("signed", Long.parseLong(m.group(6)));
          summary.put("denied", Long.parseLong(m.group(7)));
          summary.put("grpc_calls", Long.parseLong(m.group(8)));
          summary.put("kafka_sent", Long.parseLong(m.group(9)));
          summary.put("kafka_received", Long.parseLong(m.group(10)));
          summary.put("kafka_failed", Long.parseLong(m.group(11)));
          summary.put("db_queries", Long.parseLong(m.group(12)));
          summary.put("db_failed", Long.parseLong(m.group(13)));
        }
        Matcher s = SIGNER_METRICS.matcher(line);
        if (s.matches()) {
          summary.put("metrics_issued", Long.parseLong(s.group(1)));
          summary.put("metrics_denied", Long.parseLong(s.group(2)));
        }
      }
    } finally {
      if (!demo.waitFor(60, TimeUnit.SECONDS)) {
        demo.destroyForcibly();
      }
    }
    assertThat(summary).as("the demo printed a SUMMARY line; its output ended with:\n%s",
        String.join("\n", output.subList(Math.max(0, output.size() - 40), output.size()))).isNotEmpty();
    assertThat(summary.get("failed")).isZero();
    assertThat(summary.get("requests")).isGreaterThan(500);
    assertThat(summary.get("cert_rotations")).isGreaterThanOrEqualTo(2);
    // The gRPC sample's unary calls are among the requests; none of them failed either.
    assertThat(summary.get("grpc_calls")).isGreaterThan(100).isLessThan(summary.get("requests"));
    assertThat(summary.get("ca_rotations")).isGreaterThanOrEqualTo(1);
    // Kafka through the broker's mTLS listener: every message sent was consumed exactly once, and no
    // send failed (a duplicate or unexpected record would count as failed too).
    assertThat(summary.get("kafka_sent")).isPositive();
    assertThat(summary.get("kafka_received")).as("kafka_received").isEqualTo(summary.get("kafka_sent"));
    assertThat(summary.get("kafka_failed")).isZero();
    // PostgreSQL through a HikariCP pool over mTLS: queries ran all along and none failed.
    assertThat(summary.get("db_queries")).isPositive();
    assertThat(summary.get("db_failed")).isZero();
    // The signer's own /metrics counted what the demo counted from its event lines.
    assertThat(summary.get("metrics_issued")).as("SIGNER_METRICS issued").isEqualTo(summary.get("signed"))
        .isGreaterThanOrEqualTo(3 + summary.get("cert_rotations"));
    assertThat(summary.get("metrics_denied")).as("SIGNER_METRICS denied").isEqualTo(summary.get("denied"));
    assertThat(demo.exitValue()).isZero();
  }
}
