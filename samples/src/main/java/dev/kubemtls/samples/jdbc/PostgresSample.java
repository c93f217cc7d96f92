package dev.kubemtls.samples.jdbc;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.jdbc.HikariRetirement;
import dev.kubemtls.jdbc.MtlsPostgres;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A service that keeps a HikariCP pool to PostgreSQL over mTLS on the pod's kube-mtls identity: new
 * connections present the certificate current when they open, and {@link HikariRetirement} retires
 * pooled connections made under a CA that has left the trust bundle. One query every 20 ms for
 * DEMO_DURATION_SECONDS; reports {@code stats queries=<n> failed=<n>} every second and
 * {@code traffic_done} at the end.
 *
 * <p>Environment: PG_URL ({@code jdbc:postgresql://host:port/database}, without TLS parameters),
 * PG_USER (the role the server's pg_ident.conf maps this workload's
 * {@code system:serviceaccount:<ns>:<sa>} CN to), PG_SERVER_SERVICE_ACCOUNT ({@code namespace/name}
 * of the database's identity, pinned; any SPIFFE ID if unset), DEMO_DURATION_SECONDS.
 */
public final class PostgresSample {

  private PostgresSample() {}

  public static void main(String[] args) throws Exception {
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    String url = SampleSupport.env("PG_URL", "");
    if (!url.startsWith("jdbc:postgresql:")) {
      throw new IllegalArgumentException("PG_URL must be a jdbc:postgresql: URL, was '" + url + "'");
    }
    String server = SampleSupport.env("PG_SERVER_SERVICE_ACCOUNT", "");
    PeerPolicy peers = PeerPolicy.anySpiffeId();
    if (!server.isEmpty()) {
      String[] nsSa = server.split("/", 2);
      if (nsSa.length != 2) {
        throw new IllegalArgumentException("PG_SERVER_SERVICE_ACCOUNT must be namespace/serviceAccount, was '"
            + server + "'");
      }
      peers = PeerPolicy.builder().allowServiceAccount(nsSa[0], nsSa[1]).build();
    }
    long queries = 0;
    long failed = 0;
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        MtlsJdkTls tls = MtlsJdkTls.forClient(certificates).peerPolicy(peers).build();
        MtlsPostgres.Registration db = MtlsPostgres.register("postgres-sample", tls)) {
      HikariConfig config = new HikariConfig();
      config.setPoolName("postgres-sample");
      config.setJdbcUrl(url + (url.contains("?") ? "&" : "?") + db.urlParameters());
      config.setUsername(SampleSupport.env("PG_USER", "app"));
      config.setMaximumPoolSize(4);
      try (HikariDataSource pool = new HikariDataSource(config);
          HikariRetirement retirement = HikariRetirement.install(pool, db, Duration.ofSeconds(5))) {
        DemoEvents.emit("ready", "pool=" + config.getPoolName());
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long nextStats = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (System.nanoTime() < end) {
          try (Connection c = pool.getConnection(); Statement s = c.createStatement();
              ResultSet rs = s.executeQuery("SELECT 1")) {
            rs.next();
            queries++;
          } catch (Exception e) {
            failed++;
            DemoEvents.emit("query_failed", "error=\"" + e + "\"");
          }
          if (System.nanoTime() >= nextStats) {
            DemoEvents.emit("stats", "queries=" + queries, "failed=" + failed,
                "evictions=" + retirement.evictions());
            nextStats += TimeUnit.SECONDS.toNanos(1);
          }
          TimeUnit.MILLISECONDS.sleep(20);
        }
      }
    }
    DemoEvents.emit("traffic_done", "queries=" + queries, "failed=" + failed);
  }
}
