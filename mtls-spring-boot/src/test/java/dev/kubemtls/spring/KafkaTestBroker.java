package dev.kubemtls.spring;

import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kafka.MtlsSslEngineFactory;
import dev.kubemtls.kafka.SpiffePrincipalBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * (The Kafka module's test broker, on the Kafka version Spring Boot manages.)
 * A real Kafka broker in KRaft mode (broker and controller in one node) in the test JVM, on
 * loopback, with every listener on TLS through {@link MtlsSslEngineFactory} and the registration
 * {@code source}, clients named by {@link SpiffePrincipalBuilder}, and ACLs enforced by the
 * StandardAuthorizer: nothing is allowed without an ACL except to the super users (the broker
 * itself and {@link #ADMIN_ID}).
 */
final class KafkaTestBroker implements AutoCloseable {

  static final String LISTENER = "MTLS";
  static final String BROKER_ID = "spiffe://cluster.local/ns/kafka/sa/broker";
  static final String ADMIN_ID = "spiffe://cluster.local/ns/kafka/sa/admin";

  private final Path dir;
  private final KafkaRaftServer server;
  private final int port;

  private KafkaTestBroker(Path dir, KafkaRaftServer server, int port) {
    this.dir = dir;
    this.server = server;
    this.port = port;
  }

  /** Formats a fresh log directory and starts the broker; returns once it has started. */
  static KafkaTestBroker start(String source, Map<String, String> extra) throws Exception {
    // A fatal error in the broker must fail the test, not end the test JVM.
    Exit.setExitProcedure((code, message) -> {
      throw new IllegalStateException("the Kafka broker asked to exit " + code + ": " + message);
    });
    Exit.setHaltProcedure((code, message) -> {
      throw new IllegalStateException("the Kafka broker asked to halt " + code + ": " + message);
    });
    Path dir = Files.createTempDirectory("kube-mtls-kafka");
    int port = freePort();
    int controllerPort = freePort();
    Map<String, Object> p = new HashMap<>();
    p.put("process.roles", "broker,controller");
    p.put("node.id", "1");
    p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
    p.put("listeners", LISTENER + "://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.put("advertised.listeners", LISTENER + "://127.0.0.1:" + port);
    p.put("listener.security.protocol.map", LISTENER + ":SSL,CONTROLLER:SSL");
    p.put("inter.broker.listener.name", LISTENER);
    p.put("controller.listener.names", "CONTROLLER");
    p.put("log.dirs", dir.resolve("data").toString());
    p.put("metadata.log.dir", dir.resolve("meta").toString());
    p.put("num.partitions", "1");
    p.put("offsets.topic.replication.factor", "1");
    p.put("offsets.topic.num.partitions", "1");
    p.put("transaction.state.log.replication.factor", "1");
    p.put("transaction.state.log.min.isr", "1");
    p.put("share.coordinator.state.topic.replication.factor", "1");
    p.put("share.coordinator.state.topic.min.isr", "1");
    p.put("group.initial.rebalance.delay.ms", "0");
    p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
    p.put("super.users", "User:" + BROKER_ID + ";User:" + ADMIN_ID);
    p.put("allow.everyone.if.no.acl.found", "false");
    p.put("ssl.client.auth", "required");
    p.putAll(KafkaMtls.brokerConfig(source));
    p.putAll(extra);
    Properties props = new Properties();
    props.putAll(p);
    KafkaConfig config = KafkaConfig.fromProps(props, false);
    new Formatter()
        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
        .setNodeId(1)
        .setClusterId(Uuid.randomUuid().toString())
        .setReleaseVersion(MetadataVersion.latestProduction())
        .setControllerListenerName("CONTROLLER")
        .setMetadataLogDirectory(dir.resolve("meta").toString())
        .addDirectory(dir.resolve("meta").toString())
        .addDirectory(dir.resolve("data").toString())
        .run();
    KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
    try {
      server.startup();
    } catch (RuntimeException e) {
      server.shutdown();
      deleteTree(dir);
      throw new IllegalStateException("the Kafka broker did not start: " + e, e);
    }
    return new KafkaTestBroker(dir, server, port);
  }

  String bootstrap() {
    return "127.0.0.1:" + port;
  }

  int port() {
    return port;
  }

  @Override
  public void close() throws IOException {
    try {
      server.shutdown();
      server.awaitShutdown();
    } finally {
      deleteTree(dir);
      Exit.resetExitProcedure();
      Exit.resetHaltProcedure();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
  }
}
