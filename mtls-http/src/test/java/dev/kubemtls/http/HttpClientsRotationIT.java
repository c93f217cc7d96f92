package dev.kubemtls.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.testkit.TestCa;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import okhttp3.Request;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.core5.http.io.entity.EntityUtils;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * java.net.http, OkHttp and Apache HttpClient against a real Netty mTLS server: under load through
 * three client renewals and a CA rotation with overlap no request fails, and once the old CA has left
 * the client's bundle the server holds no connection on which it presented the old CA's certificate;
 * a server outside the pinned identity is refused with the policy's reason.
 */
class HttpClientsRotationIT {

  private static final Logger LOG = LoggerFactory.getLogger(HttpClientsRotationIT.class);
  private static final TestCa CA1 = TestCa.create("kube-mtls http CA 1");
  private static final TestCa CA2 = TestCa.create("kube-mtls http CA 2");
  private static final PeerPolicy ORDERS = PeerPolicy.builder().allowServiceAccount("shop", "orders").build();

  /** One client under test: a GET that returns the body, and a closer. */
  interface Client extends AutoCloseable {
    String get(URI uri) throws Exception;

    String counts();
  }

  private static TlsIdentity identity(TestCa ca, String sa, long generation) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(kp.getPublic()).commonName(sa).spiffe("shop", sa).ip("127.0.0.1").build();
    return new TlsIdentity(kp.getPrivate(), List.of(leaf), generation);
  }

  private static TrustBundle bundle(String version, TestCa... cas) {
    return new TrustBundle(java.util.Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }

  private static Client jdk(MtlsJdkTls tls) {
    MtlsJdkHttpClient c = MtlsJdkHttpClient.create(tls, b -> b.version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10)), Duration.ofSeconds(1));
    return new Client() {
      public String get(URI uri) throws Exception {
        HttpResponse<String> r = c.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(20)).build(),
            HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body();
      }

      public String counts() {
        return "client replaced " + c.replacements() + " times";
      }

      public void close() {
        c.close();
      }
    };
  }

  private static Client okhttp(MtlsJdkTls tls) {
    MtlsOkHttp c = MtlsOkHttp.create(tls, b -> b, Duration.ofSeconds(1));
    return new Client() {
      public String get(URI uri) throws Exception {
        try (okhttp3.Response r = c.client().newCall(new Request.Builder().url(uri.toString()).build()).execute()) {
          return r.code() + " " + r.body().string();
        }
      }

      public String counts() {
        return c.markedForClose() + " requests sent with Connection: close, idle connections evicted "
            + c.evictions() + " times";
      }

      public void close() {
        c.close();
      }
    };
  }

  private static Client apache(MtlsJdkTls tls) {
    MtlsApacheHttp c = MtlsApacheHttp.create(tls, b -> b, Duration.ofSeconds(1));
    c.connectionManager().setDefaultMaxPerRoute(8);
    return new Client() {
      public String get(URI uri) throws Exception {
        return c.client().execute(new HttpGet(uri), r -> r.getCode() + " " + EntityUtils.toString(r.getEntity()));
      }

      public String counts() {
        return c.notReused() + " connections not reused, idle connections closed " + c.idleClosures() + " times";
      }

      public void close() throws Exception {
        c.close();
      }
    };
  }

  @Test
  void javaNetHttpFollowsRotationsUnderLoad() throws Exception {
    rotationUnderLoad("java.net.http", HttpClientsRotationIT::jdk);
  }

  @Test
  void okHttpFollowsRotationsUnderLoad() throws Exception {
    rotationUnderLoad("OkHttp", HttpClientsRotationIT::okhttp);
  }

  @Test
  void apacheHttpClientFollowsRotationsUnderLoad() throws Exception {
    rotationUnderLoad("Apache HttpClient", HttpClientsRotationIT::apache);
  }

  private static Set<String> clientSerials(HttpsTestServer server) {
    return server.openConnections().stream().map(HttpsTestServer.Conn::clientSerial).collect(Collectors.toSet());
  }

  private void rotationUnderLoad(String name, java.util.function.Function<MtlsJdkTls, Client> factory)
      throws Exception {
    MaterialPublisher serverSource = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "orders", 1), bundle("s1", CA1, CA2), 1));
    TlsIdentity id = identity(CA1, "web", 1);
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(id, bundle("b1", CA1), 1));
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicReference<Throwable> firstFailure = new AtomicReference<>();
    AtomicBoolean running = new AtomicBoolean(true);
    ExecutorService load = Executors.newFixedThreadPool(4);
    try (HttpsTestServer server = new HttpsTestServer(serverSource);
        MtlsJdkTls tls = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).retireOnRenewal(true).build();
        Client client = factory.apply(tls)) {
      URI uri = server.uri();
      // Per worker, the latest phase in which it began a request that has finished (see settle()).
      java.util.concurrent.atomic.AtomicInteger phase = new java.util.concurrent.atomic.AtomicInteger();
      java.util.concurrent.atomic.AtomicIntegerArray finishedIn = new java.util.concurrent.atomic.AtomicIntegerArray(4);
      for (int t = 0; t < 4; t++) {
        int worker = t;
        load.execute(() -> {
          while (running.get()) {
            int begunIn = phase.get();
            try {
              String body = client.get(uri);
              if (body.equals("200 ok")) {
                ok.incrementAndGet();
              } else {
                failed.incrementAndGet();
                firstFailure.compareAndSet(null, new AssertionError("unexpected response " + body));
              }
            } catch (Exception e) {
              failed.incrementAndGet();
              firstFailure.compareAndSet(null, e);
            } finally {
              finishedIn.accumulateAndGet(worker, begunIn, Math::max);
            }
          }
        });
      }
      String first = id.leaf().getSerialNumber().toString(16);
      await().atMost(Duration.ofSeconds(30)).until(() -> clientSerials(server).equals(Set.of(first)));
      long generation = 1;
      for (int i = 0; i < 3; i++) {
        id = identity(CA1, "web", id.generation() + 1);
        source.publish(new MtlsMaterial(id, bundle("b1", CA1), ++generation));
        String serial = id.leaf().getSerialNumber().toString(16);
        long before = ok.get();
        await().atMost(Duration.ofSeconds(30)).until(() -> clientSerials(server).equals(Set.of(serial)));
        await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > before + 50);
      }
      // CA rotation: the client trusts both, the server moves to a CA2 certificate for new connections
      source.publish(new MtlsMaterial(id, bundle("b2", CA1, CA2), ++generation));
      // The server's CA2 certificate comes only once no request whose client engine was made under
      // the CA1-only bundle is still under way (such a connection would meet a certificate it cannot
      // know yet: a race of the test, not a failure of the rotation), as a signer lets the overlap last.
      settle(phase, finishedIn, failed);
      serverSource.publish(new MtlsMaterial(identity(CA2, "orders", 2), bundle("s1", CA1, CA2), 2));
      long overlap = ok.get();
      await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > overlap + 50);

      String ca1 = CA1.certificate().getSubjectX500Principal().getName();
      assertThat(server.openConnections()).as("connections made under CA1 before it leaves")
          .anyMatch(c -> c.serverIssuer().equals(ca1));
      // CA1 leaves the client's bundle: no connection made under it may stay. (Every request begun
      // before the server's switch has finished: none can still make a connection to a CA1 server.)
      settle(phase, finishedIn, failed);
      source.publish(new MtlsMaterial(id, bundle("b3", CA2), ++generation));
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(server.openConnections())
          .isNotEmpty().noneMatch(c -> c.serverIssuer().equals(ca1)));
      long after = ok.get();
      await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > after + 50);
      running.set(false);
      load.shutdown();
      assertThat(load.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
      LOG.info("{} rotation under load: {} requests succeeded, {} failed, 3 client renewals, 1 CA rotation;"
          + " {}", name, ok.get(), failed.get(), client.counts());
      assertThat(failed.get()).as("failed requests (first: %s)", firstFailure.get()).isZero();
    } finally {
      running.set(false);
      load.shutdownNow();
    }
  }

  /** Starts a new phase and waits until every worker has finished a request begun in it (or one failed). */
  private static void settle(java.util.concurrent.atomic.AtomicInteger phase,
      java.util.concurrent.atomic.AtomicIntegerArray finishedIn, AtomicLong failed) {
    int p = phase.incrementAndGet();
    await("every worker to finish a request begun after the step").atMost(Duration.ofSeconds(30)).until(() -> {
      if (failed.get() > 0) {
        return true;
      }
      for (int w = 0; w < finishedIn.length(); w++) {
        if (finishedIn.get(w) < p) {
          return false;
        }
      }
      return true;
    });
  }

  private static String messages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c).append(" | ");
    }
    return sb.toString();
  }

  @Test
  void aServerOutsideThePinnedIdentityIsRefusedByEveryClient() throws Exception {
    MaterialPublisher serverSource = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "payments", 1), bundle("s", CA1), 1));
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(identity(CA1, "web", 1), bundle("b", CA1), 1));
    try (HttpsTestServer server = new HttpsTestServer(serverSource);
        MtlsJdkTls tls = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).build()) {
      for (var factory : List.<java.util.function.Function<MtlsJdkTls, Client>>of(
          HttpClientsRotationIT::jdk, HttpClientsRotationIT::okhttp, HttpClientsRotationIT::apache)) {
        try (Client client = factory.apply(tls)) {
          Throwable t = catchThrowable(() -> client.get(server.uri()));
          assertThat(messages(t)).contains("is not allowed by")
              .contains("spiffe://cluster.local/ns/shop/sa/payments");
        }
      }
      assertThat(server.openConnections()).isEmpty();
    }
  }
}
