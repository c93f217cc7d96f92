package dev.kubemtls.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The kit's broker on Kafka's own PEM TLS settings (no kube-mtls): two brokers run side by side in
 * this JVM with their own node ids; a broker that meets a fatal error while it starts fails the start
 * at once instead of hanging; a start that does not finish in time fails saying what the broker was
 * doing; each failed start leaves no directory behind.
 */
class KafkaKraftBrokerIT {

  private static TestCa ca;
  private static Map<String, Object> tls;

  @BeforeAll
  static void pki() {
    ca = TestCa.create("kit CA");
    KeyPair kp = TestCa.newKeyPair();
    tls = new HashMap<>();
    tls.put("ssl.keystore.type", "PEM");
    tls.put("ssl.keystore.key", TestCa.toPem(kp.getPrivate()));
    tls.put("ssl.keystore.certificate.chain",
        TestCa.toPem(ca.leaf(kp.getPublic()).commonName("broker").ip("127.0.0.1").build()));
    tls.put("ssl.truststore.type", "PEM");
    tls.put("ssl.truststore.certificates", ca.certificatePem());
  }

  private static KafkaKraftBroker.Builder broker() {
    return KafkaKraftBroker.builder(tls).superUsers("User:CN=broker").failOnFatalError();
  }

  private static String clusterId(KafkaKraftBroker broker) throws Exception {
    Map<String, Object> c = new HashMap<>(tls);
    c.put("security.protocol", "SSL");
    c.put("bootstrap.servers", broker.bootstrap());
    try (Admin admin = Admin.create(c)) {
      return admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS);
    }
  }

  @Test
  void twoBrokersRunSideBySideWithTheirOwnNodeIds() throws Exception {
    try (KafkaKraftBroker first = broker().start()) {
      String firstCluster;
      try (KafkaKraftBroker second = broker().start()) {
        assertThat(second.nodeId()).isNotEqualTo(first.nodeId());
        firstCluster = clusterId(first);
        assertThat(clusterId(second)).isNotEmpty().isNotEqualTo(firstCluster);
      }
      // The first one still serves after the second has gone.
      assertThat(clusterId(first)).isEqualTo(firstCluster);
    }
  }

  @Test
  void aFatalErrorWhileStartingFailsTheStartAtOnce() throws Exception {
    // A dedupe buffer no array can hold: the log cleaner's allocation fails with an OutOfMemoryError
    // when the broker publishes its first metadata, and Kafka halts. That halt used to leave a broker
    // that never finished starting.
    long began = System.nanoTime();
    assertThatThrownBy(() -> broker()
        .config(Map.of("log.cleaner.dedupe.buffer.size", Integer.toString(Integer.MAX_VALUE)))
        .startTimeout(Duration.ofMinutes(5)).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("met a fatal error while starting")
        .hasMessageContaining("asked to halt")
        .hasMessageContaining("BrokerMetadataPublisher")
        .satisfies(e -> assertRemoved(e.getMessage()));
    assertThat(Duration.ofNanos(System.nanoTime() - began)).isLessThan(Duration.ofMinutes(5));
    // The JVM's Kafka procedures are guarded again for the next broker, which starts.
    try (KafkaKraftBroker next = broker().start()) {
      assertThat(clusterId(next)).isNotEmpty();
    }
  }

  @Test
  void aStartThatDoesNotFinishInTimeFailsSayingWhatTheBrokerWasDoing() throws Exception {
    assertThatThrownBy(() -> broker().startTimeout(Duration.ofMillis(1)).start())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("did not start within PT0.001S")
        .hasMessageContaining("broker state: ")
        .hasMessageMatching("(?s).*the start thread kafka-kraft-broker-\\d+-start .*threads started since.*")
        .satisfies(e -> System.out.println("kube-mtls kit: a start cut short: " + e.getMessage()))
        .satisfies(e -> assertRemoved(e.getMessage()));
    try (KafkaKraftBroker next = broker().start()) {
      assertThat(clusterId(next)).isNotEmpty();
    }
  }

  private static void assertRemoved(String message) {
    Matcher m = Pattern.compile("its directory (\\S+) removed").matcher(message);
    assertThat(m.find()).as("the message names the directory: %s", message).isTrue();
    assertThat(Files.exists(Path.of(m.group(1)))).as("%s exists", m.group(1)).isFalse();
  }
}
