package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.http.MtlsApacheHttp;
import dev.kubemtls.http.MtlsJdkHttpClient;
import dev.kubemtls.http.MtlsOkHttp;
import dev.kubemtls.jdbc.HikariRetirement;
import dev.kubemtls.testkit.PostgresServer;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * {@link KubeMtlsClientsAutoConfiguration} against a real PostgreSQL server: the {@code DataSource}
 * connects as the role its certificate maps to, over TLS, and after a renewal (with
 * {@code retire-on-renewal}) the pool's connections present the new certificate; the HTTP client beans
 * are there when enabled.
 */
class KubeMtlsClientsPostgresIT {

  private static final TestCa CA = TestCa.create("kube-mtls spring pg CA");
  private static final String WEB = "system:serviceaccount:shop:web";
  private static PostgresServer server;

  @BeforeAll
  static void start() throws Exception {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = CA.leaf(kp.getPublic()).commonName("postgres.db.svc").spiffe("db", "postgres")
        .ip("127.0.0.1").build();
    server = new PostgresServer(List.of(WEB + " app"), TestCa.toPem(leaf), TestCa.toPem(kp.getPrivate()),
        TestCa.toPem(CA.certificate()));
    server.sql("CREATE ROLE app LOGIN");
  }

  @AfterAll
  static void stop() throws Exception {
    if (server != null) {
      server.close();
    }
  }

  private static TlsIdentity identity(long generation) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = CA.leaf(kp.getPublic()).commonName(WEB).spiffe("shop", "web").build();
    return new TlsIdentity(kp.getPrivate(), List.of(leaf), generation);
  }

  private static Set<String> serials() throws SQLException {
    Set<String> out = new HashSet<>();
    try (Connection c = server.admin(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT l.client_serial::text FROM pg_stat_activity a JOIN pg_stat_ssl l"
            + " USING (pid) WHERE a.usename = 'app' AND l.ssl")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  @Test
  void theDataSourceUsesTheIdentityAndItsPoolFollowsARenewal() {
    TrustBundle trust = new TrustBundle(List.of(CA.certificate()), "b1");
    TlsIdentity first = identity(1);
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(first, trust, 1));
    new ApplicationContextRunner()
        .withConfiguration(AutoConfigurations.of(KubeMtlsClientsAutoConfiguration.class))
        .withBean(MaterialSource.class, () -> source)
        .withPropertyValues(
            "kube-mtls.clients.postgres.url=" + server.url("127.0.0.1"),
            "kube-mtls.clients.postgres.username=app",
            "kube-mtls.clients.postgres.server-service-accounts=db/postgres",
            "kube-mtls.clients.postgres.retire-on-renewal=true",
            "kube-mtls.clients.postgres.check-every=1s",
            "kube-mtls.clients.http.enabled=true")
        .run(context -> {
          assertThat(context).hasNotFailed();
          DataSource dataSource = context.getBean(DataSource.class);
          assertThat(dataSource).isInstanceOf(HikariDataSource.class);
          assertThat(context).hasSingleBean(HikariRetirement.class)
              .hasSingleBean(MtlsJdkHttpClient.class).hasSingleBean(MtlsOkHttp.class)
              .hasSingleBean(MtlsApacheHttp.class);
          try (Connection c = dataSource.getConnection(); Statement s = c.createStatement();
              ResultSet rs = s.executeQuery("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).isEqualTo("app");
            assertThat(rs.getBoolean(2)).isTrue();
          }
          assertThat(serials()).contains(first.leaf().getSerialNumber().toString());

          TlsIdentity renewed = identity(2);
          source.publish(new MtlsMaterial(renewed, trust, 2));
          String serial = renewed.leaf().getSerialNumber().toString();
          await().atMost(Duration.ofSeconds(30)).until(() -> {
            try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
              s.execute("SELECT 1");
            }
            return serials().equals(Set.of(serial));
          });
        });
  }
}
