package dev.kubemtls.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 *
 * <p>Several brokers may run in one JVM: each gets its own node id (1 for the first, then 2, 3, ...),
 * so that its threads ({@code kafka-<id>-...}, {@code quorum-controller-<id>-...}), MBeans and log
 * lines are its own. Each one's log cleaner gets a small dedupe buffer (Kafka's default is 128 MiB a
 * broker, allocated at start) unless the caller's configuration sets one. A start is bounded
 * ({@link Builder#startTimeout(Duration)}): a broker that has not started by then is shut down and
 * the start fails saying what it was waiting for.
 */
public final class KafkaKraftBroker implements AutoCloseable {

  /** The name of the clients' listener. */
  public static final String LISTENER = "MTLS";

  /** How long {@link Builder#start()} waits for a broker unless told otherwise. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(90);

  /**
   * The log cleaner's dedupe buffer unless the configuration sets {@code log.cleaner.dedupe.buffer.size}:
   * 4 MiB (Kafka's own test brokers use 2 MiB). Kafka's default, 128 MiB, is allocated on the heap
   * when the broker starts, so two brokers took half of a 512 MiB test JVM.
   */
  public static final long DEFAULT_DEDUPE_BUFFER_BYTES = 4L * 1024 * 1024;

  private static final Logger LOG = LoggerFactory.getLogger(KafkaKraftBroker.class);
  private static final AtomicInteger NODE_IDS = new AtomicInteger();

  private final Path dir;
  private final KafkaRaftServer server;
  private final int nodeId;
  private final String host;
  private final int port;
  private final boolean exitGuarded;
  private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

  private KafkaKraftBroker(Path dir, KafkaRaftServer server, int nodeId, String host, int port,
      boolean exitGuarded) {
    this.dir = dir;
    this.server = server;
    this.nodeId = nodeId;
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
    private Duration startTimeout = DEFAULT_START_TIMEOUT;

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
     * How long {@link #start()} waits for the broker to start ({@link #DEFAULT_START_TIMEOUT} unless
     * set); then the broker is shut down and the start fails.
     */
    public Builder startTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("the start timeout must be positive, got " + timeout);
      }
      this.startTimeout = timeout;
      return this;
    }

    /**
     * A fatal broker error does not end the JVM: Kafka's exit and halt procedures are replaced, for
     * the whole JVM, while at least one such broker runs. During {@link #start()} the error fails the
     * start at once; afterwards it throws an {@link IllegalStateException} in the broker thread that
     * met it (Kafka logs it; the broker is then broken, and the test's next request to it fails).
     */
    public Builder failOnFatalError() {
      this.failOnFatalError = true;
      return this;
    }

    /**
     * Formats a fresh log directory and starts the broker; returns once it has started, within the
     * {@linkplain #startTimeout(Duration) start timeout}.
     *
     * @throws IllegalStateException if the broker did not start, saying why: its error, the fatal
     *     error it met (with {@link #failOnFatalError()}), or, after the timeout, its state and its
     *     threads (their stacks are logged); the broker is then shut down and its directory removed
     */
    public KafkaKraftBroker start() throws IOException {
      if (failOnFatalError) {
        KafkaExitGuard.install();
      }
      try {
        return start(failOnFatalError);
      } catch (IOException | RuntimeException e) {
        if (failOnFatalError) {
          KafkaExitGuard.reset();
        }
        throw e;
      }
    }

    private KafkaKraftBroker start(boolean exitGuarded) throws IOException {
      int nodeId = NODE_IDS.incrementAndGet();
      int clientPort = port != 0 ? port : freePort();
      int quorumPort = controllerPort != 0 ? controllerPort : freePort();
      Path dir = Files.createTempDirectory("kube-mtls-kafka-");
      Map<String, Object> p = new HashMap<>();
      p.put("process.roles", "broker,controller");
      p.put("node.id", Integer.toString(nodeId));
      p.put("controller.quorum.voters", nodeId + "@" + host + ":" + quorumPort);
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
      p.put("log.cleaner.dedupe.buffer.size", Long.toString(DEFAULT_DEDUPE_BUFFER_BYTES));
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
            .setNodeId(nodeId)
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
      String what = "the Kafka broker (node " + nodeId + ") on " + host + ":" + clientPort;
      Set<Long> threadsBefore = Thread.getAllStackTraces().keySet().stream().map(Thread::getId)
          .collect(Collectors.toSet());
      CompletableFuture<Void> started = new CompletableFuture<>();
      CompletableFuture<String> fatal = exitGuarded ? KafkaExitGuard.watch() : new CompletableFuture<>();
      Thread starter = new Thread(() -> {
        try {
          server.startup();
          started.complete(null);
        } catch (Throwable t) {
          started.completeExceptionally(t);
        }
      }, "kafka-kraft-broker-" + nodeId + "-start");
      starter.setDaemon(true);
      starter.start();
      String failure = null;
      Throwable cause = null;
      try {
        CompletableFuture.anyOf(started, fatal).get(startTimeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!started.isDone()) {
          failure = what + " met a fatal error while starting: " + fatal.getNow("?");
        }
      } catch (ExecutionException e) {
        cause = e.getCause();
        failure = what + " did not start: " + cause;
      } catch (TimeoutException e) {
        failure = what + " did not start within " + startTimeout + "; " + describe(server, starter, threadsBefore);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        cause = e;
        failure = "interrupted while waiting for " + what + " to start";
      } finally {
        if (exitGuarded) {
          KafkaExitGuard.unwatch(fatal);
        }
      }
      if (failure == null) {
        return new KafkaKraftBroker(dir, server, nodeId, host, clientPort, exitGuarded);
      }
      // Interrupting the start ends Kafka's wait on its start-up futures: it then shuts the broker
      // down itself (a shutdown asked for while it starts would do nothing).
      starter.interrupt();
      try {
        starter.join(TimeUnit.SECONDS.toMillis(60));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      try {
        server.shutdown();
        if (!starter.isAlive()) {
          server.awaitShutdown();
        }
      } catch (RuntimeException e) {
        LOG.warn("shutting down {} after its failed start: {}", what, e.toString());
      }
      if (starter.isAlive()) {
        failure += " (its start thread did not end within 60 s after an interrupt)";
      }
      deleteTree(dir);
      throw new IllegalStateException(failure + " (shut down; its directory " + dir + " removed)", cause);
    }
  }

  /**
   * What a broker that has not started is doing: its state as the server object tells it (read by
   * reflection, as the server does not expose it), and the threads that appeared since its start
   * began, by name and state, with the start thread's stack; every such thread's stack is logged.
   */
  private static String describe(KafkaRaftServer server, Thread starter, Set<Long> threadsBefore) {
    StringBuilder b = new StringBuilder("broker state: ").append(brokerState(server));
    Map<Thread, StackTraceElement[]> all = Thread.getAllStackTraces();
    List<Map.Entry<Thread, StackTraceElement[]>> fresh = all.entrySet().stream()
        .filter(e -> !threadsBefore.contains(e.getKey().getId()))
        .sorted(Comparator.comparing(e -> e.getKey().getName()))
        .toList();
    b.append("; the start thread ").append(starter.getName()).append(" (").append(starter.getState())
        .append(") is at:");
    StackTraceElement[] starterStack = all.getOrDefault(starter, starter.getStackTrace());
    for (int i = 0; i < Math.min(starterStack.length, 25); i++) {
      b.append("\n\tat ").append(starterStack[i]);
    }
    b.append("\nthreads started since (").append(fresh.size()).append("): ")
        .append(fresh.stream().map(e -> e.getKey().getName() + " " + e.getKey().getState())
            .collect(Collectors.joining(", ")));
    StringBuilder dump = new StringBuilder();
    for (Map.Entry<Thread, StackTraceElement[]> e : fresh) {
      dump.append('\n').append('"').append(e.getKey().getName()).append("\" ").append(e.getKey().getState());
      for (StackTraceElement frame : e.getValue()) {
        dump.append("\n\tat ").append(frame);
      }
    }
    LOG.error("the Kafka broker has not started; its threads:{}", dump);
    return b.toString();
  }

  /** {@code BrokerServer.brokerState()} of the server's broker, or why it cannot be read. */
  private static String brokerState(KafkaRaftServer server) {
    try {
      java.lang.reflect.Field field = KafkaRaftServer.class.getDeclaredField("broker");
      field.setAccessible(true);
      Object option = field.get(server);
      if (!(Boolean) option.getClass().getMethod("isDefined").invoke(option)) {
        return "no broker in this server";
      }
      Object broker = option.getClass().getMethod("get").invoke(option);
      return String.valueOf(broker.getClass().getMethod("brokerState").invoke(broker));
    } catch (ReflectiveOperationException | RuntimeException e) {
      return "unknown (" + e + ")";
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

  /** The broker's node id: 1 for the first broker of this JVM, then 2, 3, ... */
  public int nodeId() {
    return nodeId;
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
        if (exitGuarded && closed.compareAndSet(false, true)) {
          KafkaExitGuard.reset();
        }
      }
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
