package dev.kubemtls.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A real single-node Kafka broker in KRaft mode (broker and controller in one node) in this JVM, on a
 * fresh temporary log directory that {@link #close()} removes. Both of its listeners, {@value #LISTENER}
 * for clients and {@code CONTROLLER}, are TLS with client certificates required, set up by the
 * configuration the caller gives (kube-mtls's {@code KafkaMtls.brokerConfig(...)}, which this kit does
 * not depend on); the StandardAuthorizer allows nothing without an ACL except to the super users.
 * The tests of mtls-kafka and of the Spring Boot starter run it, and the demo's broker pod.
 *
 * <p>The broker's classes ({@code org.apache.kafka:kafka_2.13}) come from the caller's class path, at
 * the caller's Kafka version: it works with 4.1 (Spring Boot's) and 4.4. A fatal broker error calls
 * Kafka's {@code Exit}, which ends the JVM; a test asks for {@link Builder#failOnFatalError()} so that
 * the error fails the test instead.
 */
public final class KafkaKraftBroker implements AutoCloseable {

  /** The name of the clients' listener. */
  public static final String LISTENER = "MTLS";

  private final Path dir;
  private final KafkaRaftServer server;
  private final String host;
  private final int port;
  private final boolean exitGuarded;

  private KafkaKraftBroker(Path dir, KafkaRaftServer server, String host, int port, boolean exitGuarded) {
    this.dir = dir;
    this.server = server;
    this.host = host;
    this.port = port;
    this.exitGuarded = exitGuarded;
  }

  /** A broker on 127.0.0.1 and free ports whose listeners' TLS {@code tlsConfig} sets up. */
  public static Builder builder(Map<String, ?> tlsConfig) {
    return new Builder(tlsConfig);
  }

  /** What the broker is started with; every setting has a default but the TLS configuration. */
  public static final class Builder {
    private final Map<String, Object> tlsConfig;
    private final Map<String, Object> extra = new HashMap<>();
    private final List<String> superUsers = new ArrayList<>();
    private String host = "127.0.0.1";
    private int port;
    private int controllerPort;
    private boolean failOnFatalError;

    private Builder(Map<String, ?> tlsConfig) {
      this.tlsConfig = Map.copyOf(Objects.requireNonNull(tlsConfig, "tlsConfig"));
    }

    /** The address both listeners bind and the clients' listener advertises; 127.0.0.1 unless set. */
    public Builder host(String host) {
      this.host = Objects.requireNonNull(host, "host");
      return this;
    }

    /** The clients' listener's port; a free one unless set. */
    public Builder port(int port) {
      this.port = port;
      return this;
    }

    /** The controller listener's port; a free one unless set. */
    public Builder controllerPort(int port) {
      this.controllerPort = port;
      return this;
    }

    /** Principals ({@code User:<name>}) the authorizer allows everything, such as the broker itself. */
    public Builder superUsers(String... principals) {
      superUsers.addAll(List.of(principals));
      return this;
    }

    /** More broker settings, which win over this class's (such as thread counts or a listener's options). */
    public Builder config(Map<String, ?> settings) {
      extra.putAll(settings);
      return this;
    }

    /**
     * A fatal broker error throws an {@link IllegalStateException} (in the thread that met it) instead
     * of ending the JVM, until {@link #close()}: Kafka's exit and halt procedures are replaced, for the
     * whole JVM, so one such broker at a time.
     */
    public Builder failOnFatalError() {
      this.failOnFatalError = true;
      return this;
    }

    /**
     * Formats a fresh log directory and starts the broker; returns once it has started.
     *
     * @throws IllegalStateException if the broker did not start, saying why
     */
    public KafkaKraftBroker start() throws IOException {
      if (failOnFatalError) {
        ExitGuard.install();
      }
      try {
        return start(failOnFatalError);
      } catch (IOException | RuntimeException e) {
        if (failOnFatalError) {
          ExitGuard.reset();
        }
        throw e;
      }
    }

    private KafkaKraftBroker start(boolean exitGuarded) throws IOException {
      int clientPort = port != 0 ? port : freePort();
      int quorumPort = controllerPort != 0 ? controllerPort : freePort();
      Path dir = Files.createTempDirectory("kube-mtls-kafka-");
      Map<String, Object> p = new HashMap<>();
      p.put("process.roles", "broker,controller");
      p.put("node.id", "1");
      p.put("controller.quorum.voters", "1@" + host + ":" + quorumPort);
      p.put("listeners", LISTENER + "://" + host + ":" + clientPort + ",CONTROLLER://" + host + ":" + quorumPort);
      p.put("advertised.listeners", LISTENER + "://" + host + ":" + clientPort);
      p.put("listener.security.protocol.map", LISTENER + ":SSL,CONTROLLER:SSL");
      p.put("inter.broker.listener.name", LISTENER);
      p.put("controller.listener.names", "CONTROLLER");
      p.put("ssl.client.auth", "required");
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
      p.put("super.users", String.join(";", superUsers));
      p.put("allow.everyone.if.no.acl.found", "false");
      p.putAll(tlsConfig);
      p.putAll(extra);
      Properties props = new Properties();
      props.putAll(p);
      KafkaRaftServer server;
      try {
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
        server = new KafkaRaftServer(config, Time.SYSTEM);
      } catch (Exception e) {
        deleteTree(dir);
        throw new IllegalStateException("cannot set up the Kafka broker: " + e, e);
      }
      try {
        server.startup();
      } catch (RuntimeException e) {
        server.shutdown();
        deleteTree(dir);
        throw new IllegalStateException("the Kafka broker did not start on " + host + ":" + clientPort + ": " + e, e);
      }
      return new KafkaKraftBroker(dir, server, host, clientPort, exitGuarded);
    }
  }

  /** {@code host:port} of the clients' listener. */
  public String bootstrap() {
    return host + ":" + port;
  }

  /** The clients' listener's port. */
  public int port() {
    return port;
  }

  /** Returns when the broker has shut down (after {@link #close()}, or a fatal error where Exit was replaced). */
  public void awaitShutdown() {
    server.awaitShutdown();
  }

  /** Shuts the broker down, waits for it, and removes its log directory. */
  @Override
  public void close() throws IOException {
    try {
      server.shutdown();
      server.awaitShutdown();
    } finally {
      try {
        deleteTree(dir);
      } finally {
        if (exitGuarded) {
          ExitGuard.reset();
        }
      }
    }
  }

  /**
   * Kafka's {@code Exit} procedures, which moved from {@code org.apache.kafka.common.utils} to its
   * {@code internals} package after 4.1: found by name, so that one kit serves both.
   */
  private static final class ExitGuard {
    private static final List<String> NAMES = List.of("org.apache.kafka.common.utils.internals.Exit",
        "org.apache.kafka.common.utils.Exit");

    static void install() {
      Class<?> exit = exitClass();
      try {
        Class<?> procedure = Class.forName(exit.getName() + "$Procedure", true, exit.getClassLoader());
        for (String what : List.of("Exit", "Halt")) {
          Object refuse = Proxy.newProxyInstance(exit.getClassLoader(), new Class<?>[] {procedure},
              (proxy, method, args) -> switch (method.getName()) {
                case "execute" -> throw new IllegalStateException("the Kafka broker asked to "
                    + what.toLowerCase(java.util.Locale.ROOT) + " " + args[0] + ": " + args[1]);
                case "hashCode" -> System.identityHashCode(proxy);
                case "equals" -> proxy == args[0];
                default -> "refuse Kafka's " + what;
              });
          exit.getMethod("set" + what + "Procedure", procedure).invoke(null, refuse);
        }
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("cannot replace " + exit.getName() + "'s procedures: " + e, e);
      }
    }

    static void reset() {
      Class<?> exit = exitClass();
      try {
        exit.getMethod("resetExitProcedure").invoke(null);
        exit.getMethod("resetHaltProcedure").invoke(null);
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException("cannot reset " + exit.getName() + "'s procedures: " + e, e);
      }
    }

    private static Class<?> exitClass() {
      for (String name : NAMES) {
        try {
          return Class.forName(name, true, KafkaRaftServer.class.getClassLoader());
        } catch (ClassNotFoundException e) {
          // the other Kafka version's
        }
      }
      throw new IllegalStateException("neither of " + NAMES + " is on the class path with the Kafka broker");
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void deleteTree(Path dir) throws IOException {
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
