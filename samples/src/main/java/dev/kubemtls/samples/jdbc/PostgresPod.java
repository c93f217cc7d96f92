package dev.kubemtls.samples.jdbc;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import dev.kubemtls.testkit.PostgresServer;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A real PostgreSQL server (the distribution's packages, started by the test kit's
 * {@link PostgresServer} on a temporary data directory) that serves with the pod's kube-mtls
 * certificate and accepts TLS clients only with a certificate of the cluster's CA bundle:
 * {@code hostssl all all <pod ip>/32 cert map=kube}, and a {@code pg_ident.conf} map from the
 * subject CN {@code system:serviceaccount:<namespace>:<serviceaccount>} to a role. PG_IDENT lists
 * {@code serviceaccount=role} pairs (comma-separated, ServiceAccounts of the pod's namespace); each
 * role is created with LOGIN and may use the {@code orders} table. Each renewal of its certificate
 * and each change of the trust bundle is written to the server's files and reloaded ({@code pg_ctl
 * reload}): new connections get the new material, open ones keep theirs. Prints
 * {@code ready address=<pod ip>:<port>} (the test kit picks a free port) and runs until stopped.
 */
public final class PostgresPod {

  private PostgresPod() {}

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");
    List<String> ident = new ArrayList<>();
    List<String> roles = new ArrayList<>();
    for (String pair : SampleSupport.env("PG_IDENT", "").split(",")) {
      String[] saRole = pair.trim().split("=", 2);
      if (pair.isBlank()) {
        continue;
      }
      if (saRole.length != 2 || !saRole[0].matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
          || !saRole[1].matches("[a-z_][a-z0-9_]{0,62}")) {
        throw new IllegalArgumentException("PG_IDENT must be serviceaccount=role pairs (a role in lower case),"
            + " was '" + pair + "'");
      }
      ident.add("system:serviceaccount:" + namespace + ":" + saRole[0] + " " + saRole[1]);
      roles.add(saRole[1]);
    }
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client)) {
      MtlsMaterial first = certificates.current();
      PostgresServer server = new PostgresServer(host, ident, chainPem(first), keyPem(first), trustPem(first));
      CountDownLatch stopped = new CountDownLatch(1);
      ExecutorService reloads = Executors.newSingleThreadExecutor();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        reloads.shutdownNow();
        try {
          server.close();
        } catch (Exception e) {
          System.err.println("could not stop PostgreSQL: " + e);
        }
        stopped.countDown();
      }, "postgres-shutdown"));
      server.sql("CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL,"
          + " created timestamptz NOT NULL DEFAULT now())");
      for (String role : roles) {
        server.sql("CREATE ROLE " + role + " LOGIN", "GRANT SELECT, INSERT ON orders TO " + role,
            "GRANT USAGE ON SEQUENCE orders_id_seq TO " + role);
      }
      // Listeners must not block: files and the reload happen on one thread, in order.
      certificates.subscribe(m -> reloads.execute(() -> {
        try {
          server.replaceServerCertificate(chainPem(m), keyPem(m), trustPem(m));
          DemoEvents.emit("db_tls_reloaded", "serial=" + m.identity().leaf().getSerialNumber().toString(16),
              "cas=" + m.trust().certificates().size());
        } catch (Exception e) {
          DemoEvents.emit("db_tls_reload_failed", "error=\"" + e.getMessage() + "\"");
        }
      }));
      if (certificates.current() != first) {
        // renewed between the server's start and the subscription: the listener missed it
        MtlsMaterial now = certificates.current();
        reloads.execute(() -> {
          try {
            server.replaceServerCertificate(chainPem(now), keyPem(now), trustPem(now));
          } catch (Exception e) {
            DemoEvents.emit("db_tls_reload_failed", "error=\"" + e.getMessage() + "\"");
          }
        });
      }
      DemoEvents.emit("ready", "address=" + host + ":" + server.port(), "roles=" + String.join(",", roles));
      stopped.await();
    }
  }

  private static String chainPem(MtlsMaterial m) {
    return Pem.encodeCertificates(m.identity().chain());
  }

  private static String keyPem(MtlsMaterial m) {
    return Pem.encode("PRIVATE KEY", m.identity().privateKey().getEncoded());
  }

  private static String trustPem(MtlsMaterial m) {
    return Pem.encodeCertificates(m.trust().certificates());
  }
}
