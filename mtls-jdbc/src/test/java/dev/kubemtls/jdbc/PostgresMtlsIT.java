package dev.kubemtls.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.testkit.PostgresServer;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * pgjdbc through {@link MtlsPgSocketFactory} against a real PostgreSQL server that maps client
 * certificates to roles ({@code hostssl ... cert map=kube}): a HikariCP pool under load through client
 * certificate renewals and a CA rotation with overlap loses no query, and once the old CA has left
 * the bundle no connection made under it is left on the server; the server and the client refuse what
 * they must.
 */
class PostgresMtlsIT {

  private static final Logger LOG = LoggerFactory.getLogger(PostgresMtlsIT.class);
  private static final TestCa CA1 = TestCa.create("kube-mtls pg CA 1");
  private static final TestCa CA2 = TestCa.create("kube-mtls pg CA 2");
  private static final TestCa FOREIGN = TestCa.create("someone else's CA");
  private static final String WEB = "system:serviceaccount:shop:web";
  private static final PeerPolicy DATABASE = PeerPolicy.builder().allowServiceAccount("db", "postgres").build();

  private static PostgresServer server;

  @BeforeAll
  static void start() throws Exception {
    String[] cert = serverCertificate(CA1);
    server = new PostgresServer(List.of(WEB + " app"), cert[0], cert[1],
        TestCa.toPem(CA1.certificate()) + TestCa.toPem(CA2.certificate()));
    server.sql("CREATE ROLE app LOGIN");
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  /** The server's chain and key: SPIFFE ID of db/postgres, IP SAN 127.0.0.1 only. */
  private static String[] serverCertificate(TestCa ca) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(kp.getPublic()).commonName("postgres.db.svc").spiffe("db", "postgres")
        .ip("127.0.0.1").build();
    return new String[] {TestCa.toPem(leaf), TestCa.toPem(kp.getPrivate())};
  }

  private static TlsIdentity client(TestCa ca, long generation, UnaryOperator<TestCa.LeafBuilder> more) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = more.apply(ca.leaf(kp.getPublic()).commonName(WEB).spiffe("shop", "web")).build();
    return new TlsIdentity(kp.getPrivate(), List.of(leaf), generation);
  }

  private static TrustBundle bundle(String version, TestCa... cas) {
    return new TrustBundle(java.util.Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }

  /** Serials (decimal) and pids of app's TLS connections, as the server sees them. */
  private record Seen(Set<String> serials, Set<Integer> pids) {}

  private static Seen seen() throws SQLException {
    Set<String> serials = new HashSet<>();
    Set<Integer> pids = new HashSet<>();
    try (Connection c = server.admin(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT a.pid, l.ssl, l.client_serial::text FROM pg_stat_activity a"
            + " JOIN pg_stat_ssl l USING (pid) WHERE a.usename = 'app'")) {
      while (rs.next()) {
        assertThat(rs.getBoolean(2)).as("every app connection uses TLS").isTrue();
        pids.add(rs.getInt(1));
        serials.add(rs.getString(3));
      }
    }
    return new Seen(serials, pids);
  }

  @Test
  void aHikariPoolUnderLoadFollowsRenewalsAndACaRotationWithoutAFailedQuery() throws Exception {
    TlsIdentity id = client(CA1, 1, b -> b);
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(id, bundle("b1", CA1), 1));
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicReference<Throwable> firstFailure = new AtomicReference<>();
    AtomicBoolean running = new AtomicBoolean(true);
    ExecutorService load = Executors.newFixedThreadPool(4);
    try (MtlsJdkTls tls = MtlsJdkTls.forClient(source).peerPolicy(DATABASE).retireOnRenewal(true).build();
        MtlsPostgres.Registration db = MtlsPostgres.register("pg-load", tls)) {
      HikariConfig config = new HikariConfig();
      config.setPoolName("pg-load");
      config.setDriverClassName("org.postgresql.Driver");
      config.setJdbcUrl(server.url("127.0.0.1") + "?" + db.urlParameters());
      config.setUsername("app");
      config.setMaximumPoolSize(4);
      config.setMinimumIdle(4);
      config.setConnectionTimeout(30_000);
      try (HikariDataSource pool = new HikariDataSource(config);
          HikariRetirement retirement = HikariRetirement.install(pool, db, Duration.ofSeconds(1))) {
        for (int t = 0; t < 4; t++) {
          load.execute(() -> {
            while (running.get()) {
              try (Connection c = pool.getConnection(); Statement s = c.createStatement();
                  ResultSet rs = s.executeQuery("SELECT pg_backend_pid(), pg_sleep(0.005)")) {
                rs.next();
                ok.incrementAndGet();
              } catch (SQLException | RuntimeException e) {
                failed.incrementAndGet();
                firstFailure.compareAndSet(null, e);
              }
            }
          });
        }
        String firstSerial = serial(id);
        await().atMost(Duration.ofSeconds(30)).until(() -> seen().serials().equals(Set.of(firstSerial)));
        long generation = 1;
        int renewals = 0;
        // three renewals under CA1; with retireOnRenewal the pool moves to each new certificate
        for (int i = 0; i < 3; i++) {
          id = client(CA1, id.generation() + 1, b -> b);
          source.publish(new MtlsMaterial(id, bundle("b1", CA1), ++generation));
          renewals++;
          String serial = serial(id);
          long before = ok.get();
          await().atMost(Duration.ofSeconds(30)).until(() -> seen().serials().equals(Set.of(serial)));
          await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > before + 20);
        }
        // CA rotation, overlap: both CAs trusted; nothing must be retired for that alone
        source.publish(new MtlsMaterial(id, bundle("b2", CA1, CA2), ++generation));
        assertThat(retirement.check()).as("adding a CA retires nothing").isZero();
        Set<Integer> underCa1 = seen().pids();
        assertThat(underCa1).isNotEmpty();
        long evictionsBefore = retirement.evictions();
        // the server moves to a CA2 certificate; connections made before keep their CA1 session
        String[] cert = serverCertificate(CA2);
        server.replaceServerCertificate(cert[0], cert[1],
            TestCa.toPem(CA1.certificate()) + TestCa.toPem(CA2.certificate()));
        long beforeRemoval = ok.get();
        await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > beforeRemoval + 20);
        // CA1 leaves the client's bundle: every connection made under it goes
        source.publish(new MtlsMaterial(id, bundle("b3", CA2), ++generation));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
          Seen now = seen();
          assertThat(now.pids()).isNotEmpty().doesNotContainAnyElementsOf(underCa1);
        });
        assertThat(retirement.evictions()).isGreaterThan(evictionsBefore);
        assertThat(db.mustRetire()).isEmpty();
        // one more renewal, under CA2
        id = client(CA2, id.generation() + 1, b -> b);
        source.publish(new MtlsMaterial(id, bundle("b3", CA2), ++generation));
        renewals++;
        String last = serial(id);
        await().atMost(Duration.ofSeconds(30)).until(() -> seen().serials().equals(Set.of(last)));
        long beforeEnd = ok.get();
        await().atMost(Duration.ofSeconds(30)).until(() -> ok.get() > beforeEnd + 20);
        running.set(false);
        load.shutdown();
        assertThat(load.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        LOG.info("PostgreSQL rotation under load: {} queries succeeded, {} failed, {} client renewals,"
            + " 1 CA rotation, pool soft-evicted {} times, {} connections found to retire", ok.get(),
            failed.get(), renewals, retirement.evictions(), retirement.retired());
        assertThat(failed.get()).as("failed queries (first: %s)", firstFailure.get()).isZero();
        assertThat(renewals).isGreaterThanOrEqualTo(3);
      }
    } finally {
      running.set(false);
      load.shutdownNow();
    }
  }

  private static String serial(TlsIdentity id) {
    return id.leaf().getSerialNumber().toString();
  }

  /** One connection as app with {@code identity}, trusting {@code trust}, dialling {@code host}. */
  private static Throwable connect(String name, TlsIdentity identity, TrustBundle trust, String host) {
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(identity, trust, 1));
    try (MtlsJdkTls tls = MtlsJdkTls.forClient(source).peerPolicy(DATABASE).build();
        MtlsPostgres.Registration db = MtlsPostgres.register(name, tls)) {
      Properties p = db.connectionProperties();
      p.setProperty("user", "app");
      return catchThrowable(() -> {
        try (Connection c = DriverManager.getConnection(server.url(host), p);
            Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
          rs.next();
        }
      });
    }
  }

  private static long count(String text, String line) {
    return text.lines().filter(l -> l.contains(line)).count();
  }

  private static String messages(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c).append(" | ");
    }
    return sb.toString();
  }

  @Test
  void theRightCertificateConnects() {
    assertThat(connect("pg-ok", client(CA1, 1, b -> b), bundle("b", CA1, CA2), "127.0.0.1")).isNull();
  }

  @Test
  void aCertificateWhoseCnMapsToNoRoleIsRefusedByTheServer() {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = CA1.leaf(kp.getPublic()).commonName("system:serviceaccount:shop:nobody")
        .spiffe("shop", "nobody").build();
    Throwable t = connect("pg-norole", new TlsIdentity(kp.getPrivate(), List.of(leaf), 1),
        bundle("b", CA1, CA2), "127.0.0.1");
    assertThat(t).isNotNull();
    assertThat(messages(t)).contains("certificate authentication failed for user \"app\"");
  }

  @Test
  void aCertificateFromAForeignCaIsRefusedByTheServer() {
    Throwable t = connect("pg-foreign", client(FOREIGN, 1, b -> b), bundle("b", CA1, CA2), "127.0.0.1");
    assertThat(t).isNotNull();
    // the server names the CAs it accepts, so the client has no certificate to offer
    assertThat(messages(t)).contains("connection requires a valid client certificate");
  }

  @Test
  void anExpiredCertificateIsRefusedByTheServer() {
    long before = count(server.serverLog(), "could not accept SSL connection: certificate verify failed");
    Throwable t = connect("pg-expired", client(CA1, 1,
        b -> b.validity(Instant.now().minus(Duration.ofHours(2)), Duration.ofHours(1))),
        bundle("b", CA1, CA2), "127.0.0.1");
    assertThat(t).isNotNull();
    // the server ends the handshake with a certificate_expired alert, which the client reads or,
    // when the server has closed first, sees as a reset or broken pipe; the server logs the refusal
    assertThat(t).isInstanceOf(SQLException.class);
    await().atMost(Duration.ofSeconds(10)).until(() ->
        count(server.serverLog(), "could not accept SSL connection: certificate verify failed") > before);
  }

  @Test
  void aServerWhoseCertificateDoesNotNameTheHostDialledIsRefusedByTheClient() {
    Throwable t = connect("pg-name", client(CA1, 1, b -> b), bundle("b", CA1, CA2), "localhost");
    assertThat(t).isNotNull();
    assertThat(messages(t)).contains("does not name the address that was dialled");
  }

  @Test
  void aConnectionNamingNoRegisteredSourceFailsSayingSo() {
    Properties p = new Properties();
    p.setProperty("user", "app");
    p.setProperty("ssl", "true");
    p.setProperty("sslmode", "verify-full");
    p.setProperty("sslfactory", MtlsPgSocketFactory.class.getName());
    p.setProperty(MtlsPostgres.SOURCE_PROPERTY, "nobody-registered-this");
    Throwable t = catchThrowable(() -> DriverManager.getConnection(server.url("127.0.0.1"), p).close());
    assertThat(messages(t)).contains("no PostgreSQL source is registered as 'nobody-registered-this'");
  }
}
