package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.spring.internal.MtlsSslBundleRegistrar;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * One real Spring Boot application serving mTLS from the starter's bundle, fed by a
 * {@link MaterialPublisher} with certificates from a short-lived test CA, and the JDK clients
 * (outside the application) that call it. Shared by the Tomcat, Reactor Netty and Jetty tests.
 */
final class MtlsApp implements AutoCloseable {

  static final String NS = "shop";

  final MutableClock clock = MutableClock.startingNow();
  final List<TestCa> cas = new CopyOnWriteArrayList<>();
  /** The application's identity (spiffe://cluster.local/ns/shop/sa/web). */
  final MaterialPublisher server = new MaterialPublisher();
  /** An allowed caller (shop/frontend). */
  final MaterialPublisher frontend = new MaterialPublisher();
  /** A caller the policy refuses (other/intruder), with a certificate from the same CA. */
  final MaterialPublisher intruder = new MaterialPublisher();
  private final Map<MaterialSource, HttpClient> clients = new ConcurrentHashMap<>();
  private final AtomicLong generations = new AtomicLong();
  /** What the application's own TlsListener bean heard of its clients' failed handshakes. */
  final List<String> clientHandshakeFailures = new CopyOnWriteArrayList<>();
  /** The causes of those failures, in the same order. */
  final List<Throwable> clientHandshakeCauses = new CopyOnWriteArrayList<>();
  /** What the application's own TlsListener bean heard of refused requests. */
  final List<String> refusalsSeen = new CopyOnWriteArrayList<>();
  final dev.kubemtls.core.tls.TlsListener refusals = new dev.kubemtls.core.tls.TlsListener() {
    @Override
    public void requestRefused(HandshakeFailure reason, java.util.Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
        String detail) {
      refusalsSeen.add(reason + " " + detail);
    }

    @Override
    public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
      if (side == Side.CLIENT) {
        clientHandshakeCauses.add(cause);
        clientHandshakeFailures.add(reason + " " + cause);
      }
    }
  };
  ConfigurableApplicationContext context;
  int port;

  MtlsApp() {
    TestCa ca = TestCa.create("spring test CA 1", Instant.now().minus(Duration.ofHours(1)), Duration.ofDays(1));
    cas.add(ca);
    server.publish(issue(ca, List.of(ca), "web", Duration.ofHours(1)));
    frontend.publish(issue(ca, List.of(ca), "frontend", Duration.ofHours(1)));
    intruder.publish(issue(ca, List.of(ca), "intruder", Duration.ofHours(1)));
  }

  /** Starts the application: {@code sources} hold the web server factory and the controller. */
  MtlsApp start(WebApplicationType type, Class<?>... sources) {
    return start(type, List.of(), sources);
  }

  /** As {@link #start(WebApplicationType, Class...)}, with more properties (which win over the defaults). */
  MtlsApp start(WebApplicationType type, List<String> moreProperties, Class<?>... sources) {
    List<Class<?>> all = new ArrayList<>(List.of(sources));
    all.add(0, Feed.class);
    Feed.current.set(this);
    context = new SpringApplicationBuilder(all.toArray(Class<?>[]::new))
        .web(type)
        .properties(
            "server.port=0",
            "server.address=127.0.0.1",
            "server.ssl.bundle=kube-mtls",
            "kube-mtls.peer.allowed-namespaces=" + NS,
            "management.endpoints.web.exposure.include=health",
            "management.endpoint.health.show-details=always",
            "spring.main.banner-mode=off")
        .properties(moreProperties.toArray(String[]::new))
        .run();
    port = ((WebServerApplicationContext) context).getWebServer().getPort();
    return this;
  }

  /** Hands this app's source and clock to the application as beans. */
  @Configuration(proxyBeanMethods = false)
  static class Feed {
    static final AtomicReference<MtlsApp> current = new AtomicReference<>();

    @Bean
    MaterialSource testMaterialSource() {
      return current.get().server;
    }

    @Bean
    MutableClock kubeMtlsClock() {
      return current.get().clock;
    }

    /** The application's own listener, told beside the metrics binding's. */
    @Bean
    dev.kubemtls.core.tls.TlsListener recordingTlsListener() {
      return current.get().refusals;
    }
  }

  /** A leaf for {@code shop/<sa>} (or {@code other/intruder}) issued by {@code issuer}, trusting {@code trusted}. */
  MtlsMaterial issue(TestCa issuer, List<TestCa> trusted, String sa, Duration validity) {
    return issue(issuer, trusted, sa, Instant.now().minus(Duration.ofMinutes(1)), validity);
  }

  MtlsMaterial issue(TestCa issuer, List<TestCa> trusted, String sa, Instant notBefore, Duration validity) {
    KeyPair kp = TestCa.newKeyPair();
    String ns = sa.equals("intruder") ? "other" : NS;
    X509Certificate leaf = issuer.leaf(kp.getPublic()).commonName(sa).dns("localhost").ip("127.0.0.1")
        .spiffe(ns, sa).validity(notBefore, validity).build();
    long gen = generations.incrementAndGet();
    return new MtlsMaterial(new TlsIdentity(kp.getPrivate(), List.of(leaf), gen),
        new TrustBundle(trusted.stream().map(TestCa::certificate).toList(), "v" + gen), gen);
  }

  /** Publishes a renewal of {@code publisher}'s identity from {@code issuer}, keeping its trust. */
  void renew(MaterialPublisher publisher, TestCa issuer) {
    MtlsMaterial now = publisher.current();
    String sa = now.identity().leaf().getSubjectX500Principal().getName().replace("CN=", "");
    MtlsMaterial next = issue(issuer, trustOf(now), sa, Duration.ofHours(1));
    publisher.publish(new MtlsMaterial(next.identity(), now.trust(), Math.max(next.generation(), now.generation() + 1)));
  }

  /** Publishes {@code publisher}'s identity with a new trust bundle. */
  void trust(MaterialPublisher publisher, List<TestCa> trusted) {
    MtlsMaterial now = publisher.current();
    publisher.publish(new MtlsMaterial(now.identity(),
        new TrustBundle(trusted.stream().map(TestCa::certificate).toList(), "t" + generations.incrementAndGet()),
        Math.max(generations.incrementAndGet(), now.generation() + 1)));
  }

  private List<TestCa> trustOf(MtlsMaterial m) {
    return cas.stream().filter(ca -> m.trust().certificates().contains(ca.certificate())).toList();
  }

  /** Waits until the bundle registered with Spring holds the server source's current snapshot. */
  void awaitBundleUpdated() {
    MtlsSslBundleRegistrar registrar = context.getBean(MtlsSslBundleRegistrar.class);
    long want = server.current().generation();
    Awaitility.await("bundle generation " + want).atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
        .until(() -> registrar.registeredGeneration() >= want);
  }

  URI uri(String path) {
    return URI.create("https://localhost:" + port + path);
  }

  /** A GET over a new connection (the server answers with Connection: close) as {@code caller}. */
  HttpResponse<String> get(MaterialSource caller, String path) throws Exception {
    HttpClient client = clients.computeIfAbsent(caller, c -> HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .sslContext(MtlsSslContexts.following(c))
        .connectTimeout(Duration.ofSeconds(5))
        .build());
    return client.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The serial of the server certificate a response came over. */
  static BigInteger serverSerial(HttpResponse<?> response) throws Exception {
    return ((X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber();
  }

  /** Load from a few JDK clients (each request a new connection) while {@code steps} run. */
  Load load(int threads) {
    return new Load(threads);
  }

  final class Load implements AutoCloseable {
    final AtomicInteger ok = new AtomicInteger();
    final AtomicInteger failed = new AtomicInteger();
    final List<String> failures = new CopyOnWriteArrayList<>();
    final Map<BigInteger, Boolean> serverSerials = new ConcurrentHashMap<>();
    final Map<String, Boolean> clientSerialsSeen = new ConcurrentHashMap<>();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final List<Thread> workers = new ArrayList<>();
    /** The current phase (see {@link #settle()}), and per worker the latest phase a finished request began in. */
    private final AtomicInteger phase = new AtomicInteger();
    private final java.util.concurrent.atomic.AtomicIntegerArray finishedIn;

    Load(int threads) {
      finishedIn = new java.util.concurrent.atomic.AtomicIntegerArray(threads);
      for (int i = 0; i < threads; i++) {
        int worker = i;
        Thread t = new Thread(() -> run(worker), "load-" + i);
        t.setDaemon(true);
        workers.add(t);
        t.start();
      }
    }

    private void run(int worker) {
      while (!stop.get()) {
        int begunIn = phase.get();
        try {
          request();
        } finally {
          finishedIn.accumulateAndGet(worker, begunIn, Math::max);
        }
      }
    }

    private void request() {
      try {
        HttpResponse<String> r = get(frontend, "/whoami");
        if (r.statusCode() == 200) {
          ok.incrementAndGet();
          serverSerials.put(serverSerial(r), true);
          clientSerialsSeen.put(r.body().split(" ")[1], true);
        } else {
          failed.incrementAndGet();
          failures.add(r.statusCode() + " " + r.body());
        }
      } catch (Exception e) {
        failed.incrementAndGet();
        failures.add(e.toString());
      }
    }

    /** Waits until a request went over a connection on which the server presented {@code serial}. */
    void awaitServerSerial(BigInteger serial) {
      Awaitility.await("a response over the server certificate " + serial.toString(16))
          .atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
          .until(() -> serverSerials.containsKey(serial));
    }

    /** Waits until the server saw the client certificate {@code serial}. */
    void awaitClientSerial(BigInteger serial) {
      Awaitility.await("the server to see client certificate " + serial.toString(16))
          .atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
          .until(() -> clientSerialsSeen.containsKey(serial.toString(16)));
    }

    /**
     * Starts a new phase and waits until every worker has finished a request begun in it: no request
     * whose TLS engine was made from the material before this call is still under way. A step of a
     * CA rotation that the material published before depends on (a certificate from the new CA, once
     * the other side trusts it; the old CA dropped, once this side presents the new CA's certificate)
     * comes only after this, as a signer lets the overlap last; otherwise a connection whose engine
     * was made just before the publish could meet the next step's material (a race of the test, not
     * a failure of a rotation).
     */
    void settle() {
      int p = phase.incrementAndGet();
      Awaitility.await("every load worker to finish a request begun after the last step")
          .atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).until(() -> {
            for (int w = 0; w < finishedIn.length(); w++) {
              if (finishedIn.get(w) < p) {
                return false;
              }
            }
            return true;
          });
    }

    /** Waits until at least {@code n} more requests succeeded. */
    void awaitMore(int n) {
      int target = ok.get() + n;
      Awaitility.await(n + " more requests").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
          .until(() -> ok.get() >= target || failed.get() > 0);
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      for (Thread t : workers) {
        t.join(Duration.ofSeconds(20).toMillis());
      }
    }
  }

  /**
   * The rotation scenario under load: two certificate renewals of server and client, then a CA
   * rotation with overlap (new CA trusted by both, both renewed by it, old CA dropped), waiting
   * at each step until a request went over the new material. Asserts that no request failed.
   */
  void rotateUnderLoad() throws Exception {
    try (Load load = load(3)) {
      load.awaitMore(5);
      for (int i = 0; i < 2; i++) {
        renew(server, cas.get(0));
        awaitBundleUpdated();
        load.awaitServerSerial(server.current().identity().leaf().getSerialNumber());
        renew(frontend, cas.get(0));
        load.awaitClientSerial(frontend.current().identity().leaf().getSerialNumber());
      }
      TestCa next = TestCa.create("spring test CA " + (cas.size() + 1), Instant.now().minus(Duration.ofHours(1)),
          Duration.ofDays(1));
      cas.add(next);
      List<TestCa> both = List.of(cas.get(0), next);
      trust(server, both);
      awaitBundleUpdated();
      trust(frontend, both);
      load.settle();
      load.awaitMore(5);
      renew(server, next);
      awaitBundleUpdated();
      load.awaitServerSerial(server.current().identity().leaf().getSerialNumber());
      renew(frontend, next);
      load.awaitClientSerial(frontend.current().identity().leaf().getSerialNumber());
      load.settle();
      trust(server, List.of(next));
      awaitBundleUpdated();
      trust(frontend, List.of(next));
      load.awaitMore(10);
      load.close();
      assertThat(load.failures).as("failed requests").isEmpty();
      assertThat(load.failed).hasValue(0);
      assertThat(load.ok.get()).as("requests that succeeded").isGreaterThan(25);
      assertThat(load.serverSerials).as("server certificates seen").hasSizeGreaterThanOrEqualTo(4);
    }
  }

  @Override
  public void close() {
    if (context != null) {
      context.close();
    }
  }
}
