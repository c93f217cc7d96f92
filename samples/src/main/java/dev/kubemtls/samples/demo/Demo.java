package dev.kubemtls.samples.demo;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The kube-mtls demo: a signer and the sample services, each its own process acting as its own
 * ServiceAccount, on an embedded Kubernetes control plane (or an existing cluster): Netty, Jetty,
 * gRPC and Spring Boot services and their clients, a real Kafka broker (KRaft) with an mTLS listener
 * that a producer and a consumer use, and a real PostgreSQL server that a service queries through a
 * HikariCP pool over mTLS. Certificates are short-lived so that renewals happen while traffic
 * flows; the CA is rotated once mid-run. The demo ends with one {@code SUMMARY} line and exits 0
 * only if no request, send or query failed and every Kafka message was consumed exactly once.
 */
public final class Demo {

  static final String NAMESPACE = "kube-mtls-demo";
  static final String SYSTEM_NAMESPACE = "kube-mtls";
  static final String SIGNER_NAME = "kube-mtls.dev/workload";
  static final String CA_SECRET = "kube-mtls-ca";
  static final String BUNDLE_CONFIGMAP = Defaults.TRUST_BUNDLE_CONFIGMAP;

  private final PrintStream out;
  private final DemoOptions options;
  private final long startNanos = System.nanoTime();
  private final List<ChildProcess> children = new ArrayList<>();
  private final Map<String, AtomicLong> counters = new ConcurrentHashMap<>();
  private final Map<String, long[]> traffic = new ConcurrentHashMap<>();
  private final Map<String, CountDownLatch> ready = new ConcurrentHashMap<>();
  /** What each child said when it was ready ({@code key=value} words). */
  private final Map<String, String> readyDetails = new ConcurrentHashMap<>();
  /** The last counts ({@code key=<number>} words) of the Kafka and database samples, by child. */
  private final Map<String, Map<String, Long>> sampleCounts = new ConcurrentHashMap<>();
  private final CountDownLatch caRotationDone = new CountDownLatch(1);
  private final CountDownLatch trafficDone = new CountDownLatch(1);
  private final CountDownLatch grpcDone = new CountDownLatch(1);
  private Path workDir;
  private KubernetesClient admin;
  private Config adminConfig;
  private ControlPlane existingCluster;
  private DemoCluster cluster;
  /** CA rotations as the cluster's trust bundle shows them, whichever signer replica completed them. */
  private CaRotationWatch caRotations;
  private volatile String signerMetrics;

  Demo(DemoOptions options, PrintStream out) {
    this.options = options;
    this.out = out;
  }

  public static void main(String[] args) {
    DemoOptions options;
    try {
      options = DemoOptions.parse(args);
    } catch (IllegalArgumentException e) {
      if (e.getMessage().isEmpty()) {
        System.out.print(DemoOptions.USAGE);  // --help: the usage is the answer
      } else {
        System.err.println("demo: " + e.getMessage());
        System.err.print(DemoOptions.USAGE);
      }
      System.exit(e.getMessage().isEmpty() ? 0 : 2);
      return;
    }
    Demo demo = new Demo(options, System.out);
    Thread cleanup = new Thread(demo::stopChildren, "demo-cleanup");
    Runtime.getRuntime().addShutdownHook(cleanup);
    int code;
    try {
      code = demo.run();
    } catch (Exception e) {
      demo.say("demo", "FAILED: " + e);
      e.printStackTrace(System.err);
      code = 1;
    }
    demo.stopChildren();
    System.exit(code);
  }

  private int run() throws Exception {
    setUp();
    // The broker and the database take longest to start: first.
    startChild("kafka", "dev.kubemtls.samples.kafka.KafkaBrokerPod", List.of(), cluster.envFor("kafka"));
    startChild("postgres", "dev.kubemtls.samples.jdbc.PostgresPod", List.of(), cluster.envFor("postgres"));
    startChild("echo", "dev.kubemtls.samples.EchoServer", List.of(), cluster.envFor("echo"));
    startChild("web", "dev.kubemtls.samples.WebService", List.of(), cluster.envFor("web"));
    awaitReady("echo", Duration.ofSeconds(90));
    awaitReady("web", Duration.ofSeconds(90));
    awaitReady("kafka", Duration.ofSeconds(120));
    awaitReady("postgres", Duration.ofSeconds(120));
    // Their clients start now, beside the others' start-up (each JVM takes seconds on 2 cores).
    startKafkaAndDatabaseClients();
    Map<String, String> clientEnv = new LinkedHashMap<>(cluster.envFor("client"));
    clientEnv.put("DEMO_DURATION_SECONDS", Long.toString(options.duration().toSeconds()));
    startChild("client", "dev.kubemtls.samples.EchoClient", List.of(), clientEnv);
    startGrpc();
    awaitReady("client", Duration.ofSeconds(90));
    startSpring();
    for (String name : SELF_ENDING_SAMPLES) {
      awaitReady(name, Duration.ofSeconds(90));
    }
    long trafficStart = System.nanoTime();
    say("demo", "traffic flowing for " + options.duration().toSeconds() + "s; CA rotation at +"
        + options.caRotationAt().toSeconds() + "s");

    long rotateAt = trafficStart + options.caRotationAt().toNanos();
    long end = trafficStart + options.duration().toNanos();
    long nextProgress = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    boolean rotated = false;
    while (!trafficDone.await(250, TimeUnit.MILLISECONDS)) {
      long now = System.nanoTime();
      if (!rotated && now >= rotateAt) {
        rotated = true;
        say("demo", "rotating the CA: writing a new CA key pair into Secret " + SYSTEM_NAMESPACE + "/" + CA_SECRET);
        cluster.rotateCa();
      }
      if (now >= nextProgress) {
        nextProgress += TimeUnit.SECONDS.toNanos(5);
        say("demo", "progress " + tallies());
      }
      for (ChildProcess child : children) {
        if (!child.isAlive() && !child.name().equals("client") && !child.name().equals("spring")
            && !child.name().equals("grpccli") && !SELF_ENDING_SAMPLES.contains(child.name())) {
          throw new IllegalStateException(child.name() + " exited unexpectedly with code " + child.exitCode());
        }
      }
      if (now > end + TimeUnit.SECONDS.toNanos(60)) {
        throw new IllegalStateException("the client did not finish within 60s after the end of the run");
      }
    }
    ChildProcess client = children.stream().filter(c -> c.name().equals("client")).findFirst().orElseThrow();
    client.awaitExit(30);
    ChildProcess spring = awaitSpringDone();
    if (!grpcDone.await(30, TimeUnit.SECONDS)) {
      say("demo", "the gRPC client did not finish within 30s after the end of the run");
    }
    // The producer sends its end record; the consumer stops when it has read it.
    Map<String, Integer> sampleExits = new LinkedHashMap<>();
    for (String name : SELF_ENDING_SAMPLES) {
      ChildProcess c = child(name);
      if (!c.awaitExit(name.equals("consumer") ? 120 : 60)) {
        say("demo", name + " did not finish in time after the end of the run");
        sampleExits.put(name, -1);
      } else {
        sampleExits.put(name, c.exitCode());
        if (c.exitCode() != 0) {
          say("demo", name + " exited with code " + c.exitCode());
        }
      }
    }
    // Counted from the cluster's state (the bundle), not only from this demo's own signer's log: a
    // standby that took over may have completed the rotation.
    int caRotationsInCluster = caRotations == null ? 0 : caRotations.completed();
    boolean caComplete = caRotationsInCluster > 0 || caRotationDone.getCount() == 0;
    if (!caComplete) {
      say("demo", "the CA rotation had not completed by the end of the run (raise --duration or lower"
          + " --ca-rotation-at)");
    }
    long[] t = totals();
    long duration = Duration.ofNanos(System.nanoTime() - trafficStart).toSeconds();
    // No more requests: stop the services, then read the signer's own counters once its event lines
    // (what SUMMARY counts) have caught up with them.
    for (String name : List.of("client", "spring", "grpccli", "producer", "consumer", "orders", "web", "grpcsrv",
        "echo", "kafka", "postgres")) {
      stopChild(name);
    }
    long[] scraped = scrapeSignerUntil(() -> new long[] {count("signed"), count("denied")}, Duration.ofSeconds(15));
    String summary = String.format(Locale.ROOT,
        "SUMMARY requests=%d failed=%d cert_rotations=%d ca_rotations=%d duration_s=%d signed=%d denied=%d"
            + " grpc_calls=%d kafka_sent=%d kafka_received=%d kafka_failed=%d db_queries=%d db_failed=%d",
        t[0], t[1], count("cert_rotated"), Math.max(caRotationsInCluster, count("ca_rotation_completed")), duration,
        count("signed"),
        count("denied"), traffic.getOrDefault("grpccli", new long[2])[0], kafkaSent(), kafkaReceived(),
        kafkaFailed(), sampleCount("orders", "queries"), sampleCount("orders", "failed"));
    stopChildren();
    if (caRotations != null) {
      caRotations.close();
    }
    out.println(summary);
    boolean agree = scraped != null && scraped[0] == count("signed") && scraped[1] == count("denied");
    out.println(scraped == null ? "SIGNER_METRICS unavailable (no /metrics address from the signer)"
        : String.format(Locale.ROOT, "SIGNER_METRICS issued=%d denied=%d (kubemtls_signer_csrs_issued_total and"
            + " kubemtls_signer_csrs_denied_total from the signer's /metrics; %s SUMMARY)", scraped[0], scraped[1],
            agree ? "agree with" : "DISAGREE with"));
    boolean kafkaOk = kafkaSent() > 0 && kafkaReceived() == kafkaSent() && kafkaFailed() == 0;
    boolean dbOk = sampleCount("orders", "queries") > 0 && sampleCount("orders", "failed") == 0;
    boolean samplesExited = sampleExits.values().stream().allMatch(code -> code == 0);
    if (!kafkaOk) {
      say("demo", "Kafka: " + kafkaSent() + " messages sent, " + kafkaReceived() + " received once, "
          + kafkaFailed() + " failed sends, duplicates or unexpected records (every message must arrive once)");
    }
    boolean ok = t[1] == 0 && t[0] > 0 && client.exitCode() == 0 && spring.exitCode() == 0 && agree
        && grpcDone.getCount() == 0 && kafkaOk && dbOk && samplesExited;
    return ok ? 0 : 1;
  }

  /** The samples that end by themselves after the run: the Kafka producer and consumer, the orders service. */
  private static final List<String> SELF_ENDING_SAMPLES = List.of("producer", "consumer", "orders");

  /**
   * The Kafka producer and consumer samples, as two more processes of the client pod (its
   * ServiceAccount, which the broker's ACLs name), against the broker's mTLS listener; and the
   * orders service, which keeps a HikariCP pool to PostgreSQL over mTLS. They run as long as the
   * client (from their own start, a little before it); the consumer then reads until the
   * producer's end record.
   */
  private void startKafkaAndDatabaseClients() {
    for (String name : List.of("consumer", "producer")) {
      Map<String, String> env = new LinkedHashMap<>(cluster.envFor("client"));
      env.put("DEMO_DURATION_SECONDS", Long.toString(options.duration().toSeconds()));
      String main = name.equals("consumer") ? "KafkaConsumerSample" : "KafkaProducerSample";
      startChild(name, "dev.kubemtls.samples.kafka." + main, List.of(), env);
    }
    Map<String, String> env = new LinkedHashMap<>(cluster.envFor("orders"));
    env.put("DEMO_DURATION_SECONDS", Long.toString(options.duration().toSeconds()));
    // The test kit's PostgreSQL listens on a free port it picks; the database said which.
    String address = detail(readyDetails.getOrDefault("postgres", ""), "address");
    if (address == null) {
      throw new IllegalStateException("PostgreSQL did not say its address when it was ready");
    }
    env.put("DATABASE_ADDRESS", address);
    startChild("orders", "dev.kubemtls.samples.jdbc.OrdersService", List.of(), env);
  }

  private static String detail(String details, String key) {
    for (String word : details.split(" ")) {
      if (word.startsWith(key + "=")) {
        return word.substring(key.length() + 1);
      }
    }
    return null;
  }

  private long sampleCount(String child, String key) {
    return sampleCounts.getOrDefault(child, Map.of()).getOrDefault(key, 0L);
  }

  private long kafkaSent() {
    return sampleCount("producer", "sent");
  }

  /** Messages the consumer read, each counted once (a second reading is a duplicate, counted as failed). */
  private long kafkaReceived() {
    return sampleCount("consumer", "received");
  }

  private long kafkaFailed() {
    return sampleCount("producer", "failed") + sampleCount("consumer", "duplicates")
        + sampleCount("consumer", "unexpected");
  }

  private ChildProcess child(String name) {
    return children.stream().filter(c -> c.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalStateException("no child process " + name));
  }

  /**
   * The gRPC sample: Greeter served by a second process of the echo pod (its ServiceAccount and IP,
   * like a second container) that lets only the client ServiceAccount in, and called by a second
   * process of the client pod that accepts only the echo ServiceAccount as the server. Its unary
   * calls count in SUMMARY's requests and failed, and on their own as grpc_calls.
   */
  private void startGrpc() throws InterruptedException {
    Map<String, String> serverEnv = new LinkedHashMap<>(cluster.envFor("echo"));
    serverEnv.put("GRPC_PORT", "9443");
    serverEnv.put("GRPC_ALLOWED_SERVICE_ACCOUNTS", "client");
    startChild("grpcsrv", "dev.kubemtls.samples.grpc.GreeterServer", List.of(), serverEnv);
    awaitReady("grpcsrv", Duration.ofSeconds(90));
    Map<String, String> clientEnv = new LinkedHashMap<>(cluster.envFor("client"));
    clientEnv.put("DEMO_DURATION_SECONDS", Long.toString(options.duration().toSeconds()));
    clientEnv.put("GRPC_TARGET", serverEnv.get("POD_IP") + ":9443");
    clientEnv.put("GRPC_AUTHORITY", "echo." + NAMESPACE + ".svc");
    clientEnv.put("GRPC_SERVER_SERVICE_ACCOUNT", "echo");
    startChild("grpccli", "dev.kubemtls.samples.grpc.GreeterClient", List.of(), clientEnv);
    awaitReady("grpccli", Duration.ofSeconds(90));
  }

  /**
   * The part of a run before the services start: connects, installs the manifests (adopting or
   * cleaning up what an earlier run on the same cluster left, and saying which), starts the signer
   * and waits until it has published the CA bundle. {@link #stopChildren()} undoes the processes.
   */
  void setUp() throws Exception {
    workDir = Files.createTempDirectory("kube-mtls-demo-");
    connect();
    cluster = new DemoCluster(admin, adminConfig, workDir, this::say);
    cluster.install(options);

    say("demo", "starting the signer (max certificate lifetime " + options.certTtl().toSeconds() + "s)");
    startChild("signer", "dev.kubemtls.samples.DemoSigner", cluster.signerArgs(options), cluster.envFor("signer"));
    cluster.awaitBundle(Duration.ofSeconds(60), () -> children.get(0).isAlive());
    caRotations = new CaRotationWatch(admin, NAMESPACE, BUNDLE_CONFIGMAP);
  }

  private void connect() throws IOException {
    if (options.kubeconfig().isPresent()) {
      // The test kit reads the kubeconfig as the tests' kubeconfig backend does (an EC key in
      // PKCS#8 form included, which fabric8 alone takes for RSA) and checks the user is an admin.
      existingCluster = ControlPlane.connect(options.kubeconfig().get());
      adminConfig = existingCluster.adminConfig();
      say("demo", "using the cluster at " + adminConfig.getMasterUrl());
    } else {
      say("demo", "starting an embedded control plane (etcd + kube-apiserver on loopback)");
      ControlPlane cp = ControlPlane.shared();
      adminConfig = cp.adminConfig();
      say("demo", "control plane up at " + cp.apiServerUrl());
    }
    admin = new KubernetesClientBuilder().withConfig(adminConfig).build();
  }

  /** The Spring Boot sample (mtls-spring-boot): its own traffic, as long as the client's, counts in SUMMARY. */
  private void startSpring() throws InterruptedException {
    Map<String, String> env = new LinkedHashMap<>(cluster.envFor("spring"));
    // The starter uses no kubeconfig from the environment unless told to: name the file (kube-mtls.kubeconfig-file).
    env.put("KUBEMTLS_KUBECONFIGFILE", env.get("KUBECONFIG"));
    env.put("DEMO_DURATION_SECONDS", Long.toString(options.duration().toSeconds()));
    startChild("spring", "dev.kubemtls.samples.SpringService", List.of(), env);
    awaitReady("spring", Duration.ofSeconds(120));
  }

  /** Waits until the Spring sample has reported its last counts and exited. */
  private ChildProcess awaitSpringDone() throws InterruptedException {
    ChildProcess spring = children.stream().filter(c -> c.name().equals("spring")).findFirst().orElseThrow();
    spring.awaitExit(60);
    return spring;
  }

  private void startChild(String name, String mainClass, List<String> args, Map<String, String> env) {
    ready.putIfAbsent(name, new CountDownLatch(1));
    children.add(ChildProcess.start(name, mainClass, args, env, workDir, this::onLine));
  }

  /** Waits until {@code name} said it is ready; fails at once if it exited first (its output above says why). */
  private void awaitReady(String name, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    ChildProcess process = child(name);
    while (!ready.get(name).await(500, TimeUnit.MILLISECONDS)) {
      if (!process.isAlive() && !ready.get(name).await(1, TimeUnit.SECONDS)) {
        throw new IllegalStateException(describeChild(name) + " exited with code " + process.exitCode()
            + " before it was ready; its output above says why");
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(describeChild(name) + " was not ready within " + timeout.toSeconds() + "s");
      }
    }
  }

  private static String describeChild(String name) {
    return switch (name) {
      case "kafka" -> "the Kafka broker (kafka)";
      case "postgres" -> "PostgreSQL (postgres)";
      default -> name;
    };
  }

  /** Every line a child prints: events are counted and shown readably; logs are shown as they are. */
  private void onLine(String child, String line) {
    if (!ChildProcess.isEvent(line)) {
      if (line.contains(" WARN ") || line.contains(" ERROR ") || line.startsWith("Exception")
          || line.startsWith("\tat ") || line.startsWith("Caused by")) {
        say(child, line);
      }
      return;
    }
    String[] words = line.substring(DemoEvents.PREFIX.length()).split(" ", 2);
    String kind = words[0];
    String details = words.length > 1 ? words[1] : "";
    counters.computeIfAbsent(kind, k -> new AtomicLong()).incrementAndGet();
    boolean sample = SELF_ENDING_SAMPLES.contains(child);
    if (sample && (kind.equals("stats") || kind.equals("kafka_done") || kind.equals("db_done"))) {
      sampleCounts.put(child, parseCounts(details));
    }
    switch (kind) {
      case "ready" -> {
        readyDetails.put(child, details);
        ready.computeIfAbsent(child, k -> new CountDownLatch(1)).countDown();
      }
      case "stats" -> {
        if (!sample) {
          traffic.put(child, parseStats(details));
        }
      }
      case "traffic_done" -> {
        traffic.put(child, parseStats(details));
        trafficDone.countDown();
      }
      case "grpc_done" -> {
        traffic.put(child, parseStats(details));
        grpcDone.countDown();
      }
      case "ca_rotation_completed" -> caRotationDone.countDown();
      case "metrics" -> signerMetrics = details.startsWith("address=") ? details.substring("address=".length()) : null;
      default -> { }
    }
    if (!kind.equals("stats")) {
      say(child, describe(kind) + (details.isEmpty() ? "" : "  " + details));
    }
  }

  private static String describe(String kind) {
    return switch (kind) {
      case "cert_issued" -> "certificate issued";
      case "cert_rotated" -> "certificate rotated";
      case "trust_updated" -> "trust bundle updated";
      case "renewal_failed" -> "renewal failed (will retry)";
      case "ca_rotation_started" -> "CA rotation started: new CA added to the bundle";
      case "ca_signing_switched" -> "CA rotation: now signing with the new CA";
      case "ca_rotation_completed" -> "CA rotated: old CA removed from the bundle";
      case "request_failed" -> "REQUEST FAILED";
      case "ready" -> "ready";
      case "traffic_done" -> "traffic finished";
      case "grpc_done" -> "gRPC calls finished";
      case "kafka_done" -> "Kafka client finished";
      case "db_done" -> "database queries finished";
      case "query_failed" -> "QUERY FAILED";
      case "send_failed" -> "KAFKA SEND FAILED";
      case "kafka_duplicate" -> "KAFKA MESSAGE READ TWICE";
      case "kafka_unexpected" -> "UNEXPECTED KAFKA RECORD";
      case "db_tls_reloaded" -> "PostgreSQL reloaded its certificate and trust";
      default -> kind.replace('_', ' ');
    };
  }

  private static long[] parseStats(String details) {
    long requests = 0;
    long failed = 0;
    for (String word : details.split(" ")) {
      if (word.startsWith("requests=")) {
        requests = Long.parseLong(word.substring("requests=".length()));
      } else if (word.startsWith("failed=")) {
        failed = Long.parseLong(word.substring("failed=".length()));
      }
    }
    return new long[] {requests, failed};
  }

  /** Every {@code key=<number>} word of an event line. */
  static Map<String, Long> parseCounts(String details) {
    Map<String, Long> counts = new LinkedHashMap<>();
    for (String word : details.split(" ")) {
      int eq = word.indexOf('=');
      if (eq > 0 && word.length() > eq + 1 && word.substring(eq + 1).chars().allMatch(Character::isDigit)
          && word.length() - eq - 1 < 19) {
        counts.put(word.substring(0, eq), Long.parseLong(word.substring(eq + 1)));
      }
    }
    return counts;
  }

  private long[] totals() {
    long requests = 0;
    long failed = 0;
    for (long[] t : traffic.values()) {
      requests += t[0];
      failed += t[1];
    }
    return new long[] {requests, failed};
  }

  private long count(String kind) {
    AtomicLong n = counters.get(kind);
    return n == null ? 0 : n.get();
  }

  private String tallies() {
    long[] t = totals();
    return "requests=" + t[0] + " failed=" + t[1] + " cert_rotations=" + count("cert_rotated")
        + " ca_rotations=" + Math.max(caRotations == null ? 0 : caRotations.completed(), count("ca_rotation_completed"))
        + " kafka_sent=" + kafkaSent() + " kafka_received=" + kafkaReceived() + " db_queries="
        + sampleCount("orders", "queries");
  }

  synchronized void say(String who, String text) {
    double s = (System.nanoTime() - startNanos) / 1e9;
    out.printf(Locale.ROOT, "[%6.1fs] %-7s %s%n", s, who, text);
    out.flush();
  }

  private synchronized void stopChild(String name) {
    for (ChildProcess child : children) {
      if (child.name().equals(name)) {
        child.stop();
      }
    }
  }

  /**
   * The signer's issued and denied totals from its {@code /metrics}, read until they equal
   * {@code expected} (the event lines are read on other threads) or {@code timeout} passed; null
   * without a metrics address.
   */
  private long[] scrapeSignerUntil(java.util.function.Supplier<long[]> expected, Duration timeout)
      throws InterruptedException {
    String address = signerMetrics;
    if (address == null) {
      return null;
    }
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    long deadline = System.nanoTime() + timeout.toNanos();
    long[] last = null;
    while (true) {
      try {
        String body = http.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://" + address + "/metrics")).timeout(Duration.ofSeconds(5)).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        last = new long[] {sum(body, "kubemtls_signer_csrs_issued_total"), sum(body, "kubemtls_signer_csrs_denied_total")};
      } catch (IOException e) {
        say("demo", "cannot read the signer's /metrics at " + address + ": " + e);
      }
      if (last != null && java.util.Arrays.equals(last, expected.get()) || System.nanoTime() > deadline) {
        return last;
      }
      Thread.sleep(200);
    }
  }

  /** The sum of every sample of {@code name} (all its tag combinations) in a Prometheus text body. */
  static long sum(String body, String name) {
    double total = 0;
    for (String line : body.split("\n")) {
      if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
        total += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return Math.round(total);
  }

  synchronized void stopChildren() {
    for (int i = children.size() - 1; i >= 0; i--) {
      children.get(i).stop();
    }
    children.clear();
    if (admin != null) {
      admin.close();
      admin = null;
    }
    if (existingCluster != null) {
      existingCluster.close();
      existingCluster = null;
    }
    if (workDir != null) {
      deleteRecursively(workDir);
      workDir = null;
    }
  }

  private static void deleteRecursively(Path dir) {
    try (var walk = Files.walk(dir)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // best effort on exit
    }
  }
}
