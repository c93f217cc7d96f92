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
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A service that keeps a HikariCP pool to PostgreSQL over mTLS: every connection presents the pod's
 * current kube-mtls certificate (the database maps its CN {@code system:serviceaccount:<ns>:<sa>} to
 * a role) and checks the server's with {@code sslmode=verify-full} and a peer policy that accepts
 * only the database's ServiceAccount. {@link HikariRetirement} moves the pool to new material: a
 * pooled connection made under a CA that left the bundle, or under a client certificate since
 * renewed ({@code retireOnRenewal}), is closed once idle and replaced. Queries run continuously
 * (an insert, then a count, every 40 ms) for DEMO_DURATION_SECONDS. Environment: DATABASE_ADDRESS
 * ({@code host:port}), DATABASE_SERVICE_ACCOUNT (the server's, in the pod's namespace),
 * DATABASE_USER (the role the CN maps to), DATABASE_NAME ({@code postgres} unless set). Reports
 * {@code stats queries=<n> failed=<n>} every second and {@code db_done queries=<n> failed=<n>
 * evictions=<n>} at the end.
 */
public final class OrdersService {

  private OrdersService() {}

  private static String rootMessage(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return (root == t ? "" : t.getMessage() + " <- ") + root;
  }

  public static void main(String[] args) throws Exception {
    String[] db = SampleSupport.address("DATABASE_ADDRESS");
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");
    String serverAccount = SampleSupport.env("DATABASE_SERVICE_ACCOUNT", "postgres");
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    AtomicLong queries = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    long evictions;
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        MtlsJdkTls tls = MtlsJdkTls.forClient(certificates)
            .peerPolicy(PeerPolicy.builder().allowServiceAccount(namespace, serverAccount).build())
            .retireOnRenewal(true).build();
        MtlsPostgres.Registration registration = MtlsPostgres.register("orders-db", tls)) {
      HikariConfig config = new HikariConfig();
      config.setPoolName("orders");
      config.setJdbcUrl("jdbc:postgresql://" + db[0] + ":" + db[1] + "/"
          + SampleSupport.env("DATABASE_NAME", "postgres") + "?" + registration.urlParameters());
      config.setUsername(SampleSupport.env("DATABASE_USER", "orders"));
      config.setMaximumPoolSize(2);
      config.setMinimumIdle(2);
      config.setConnectionTimeout(10_000);
      try (HikariDataSource pool = new HikariDataSource(config);
          HikariRetirement retirement = HikariRetirement.install(pool, registration, Duration.ofSeconds(5))) {
        DemoEvents.emit("ready", "database=" + db[0] + ":" + db[1], "pool=" + config.getMaximumPoolSize());
        ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
        AtomicLong n = new AtomicLong();
        pace.scheduleWithFixedDelay(() -> {
          long i = n.incrementAndGet();
          try (Connection c = pool.getConnection()) {
            if (i % 2 == 1) {
              try (PreparedStatement s = c.prepareStatement("INSERT INTO orders (item) VALUES (?)")) {
                s.setString(1, "order " + i);
                s.executeUpdate();
              }
            } else {
              try (PreparedStatement s = c.prepareStatement("SELECT count(*) FROM orders");
                  ResultSet rs = s.executeQuery()) {
                rs.next();
              }
            }
            queries.incrementAndGet();
          } catch (Exception e) {
            queries.incrementAndGet();
            failed.incrementAndGet();
            DemoEvents.emit("query_failed", "error=\"" + rootMessage(e) + "\"");
          }
        }, 0, 40, TimeUnit.MILLISECONDS);
        pace.scheduleAtFixedRate(() -> DemoEvents.emit("stats", "queries=" + queries.get(),
            "failed=" + failed.get(), "pool_evictions=" + retirement.evictions()), 1, 1, TimeUnit.SECONDS);
        if (pace.awaitTermination(seconds, TimeUnit.SECONDS)) {
          throw new IllegalStateException("the query scheduler stopped early");
        }
        pace.shutdown();
        if (!pace.awaitTermination(30, TimeUnit.SECONDS)) {
          pace.shutdownNow();
        }
        evictions = retirement.evictions();
      }
    }
    DemoEvents.emit("db_done", "queries=" + queries.get(), "failed=" + failed.get(), "pool_evictions=" + evictions);
  }
}
