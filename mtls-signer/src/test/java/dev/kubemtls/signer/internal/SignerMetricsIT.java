package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * The signer's {@code /metrics}, {@code /livez} and {@code /readyz} over real HTTP while two replicas
 * of a signer name of their own approve, deny, issue and fail CSRs on the real control plane.
 */
class SignerMetricsIT {

  private static final String SIGNER = "kube-mtls.dev/metrics-test";

  @Test
  void countersMoveByTheExactNumbersAndReadyzFlipsWhenTheStandbyTakesOver() {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("metrics-it");
    // Approved by someone else before any replica runs: the leader's first act is a Failed/CaNotAllowed.
    String caRequest = createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).ca().pem(), SERVER_CLIENT);
    fx.admin.certificates().v1().certificateSigningRequests().withName(caRequest).approve(
        new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
            .withReason("ApprovedByAdmin").withMessage("approved in the test").build());

    Replica a = new Replica(fx, "metrics-a");
    try {
      Awaitility.await("replica a to lead").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(a.signer::isLeader);
      Replica b = new Replica(fx, "metrics-b");
      try {
        fx.awaitFinal(caRequest);
        Awaitility.await("the failure to be counted").atMost(Duration.ofSeconds(10))
            .until(() -> Scrape.metrics(a.address()).get("kubemtls_signer_csrs_failed_total{reason=\"CaNotAllowed\"}"),
                v -> v == 1.0);
        Map<String, Double> before = Scrape.metrics(a.address());
        assertThat(before).containsEntry("kubemtls_signer_csrs_seen_total", 1.0)
            .containsEntry("kubemtls_signer_csrs_issued_total", 0.0)
            .containsEntry("kubemtls_signer_leader", 1.0)
            .containsEntry("kubemtls_signer_ca_rotation_phase{phase=\"steady\"}", 1.0)
            .containsEntry("kubemtls_signer_ca_not_after_seconds",
                (double) (fx.ca.certificate().getNotAfter().getTime() / 1000));
        assertThat(Scrape.request(a.address(), "GET", "/readyz").body()).isEqualTo("ok: leader\n");
        assertThat(Scrape.request(b.address(), "GET", "/readyz")).satisfies(r -> {
          assertThat(r.statusCode()).isEqualTo(200);
          assertThat(r.body()).isEqualTo("ok: standby\n");
        });
        assertThat(Scrape.metrics(b.address())).containsEntry("kubemtls_signer_leader", 0.0)
            .containsEntry("kubemtls_signer_ready", 1.0)
            .containsEntry("kubemtls_signer_csrs_seen_total", 0.0);

        List<String> names = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          names.add(createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT));
        }
        names.add(createCsr(web.client(), SIGNER, TestCsr.builder().dns("*." + web.namespace() + ".svc").pem(),
            SERVER_CLIENT));
        names.add(createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).email("a@example.com").pem(),
            SERVER_CLIENT));
        names.add(createCsr(web.client(), SIGNER, TestCsr.builder().dns("*." + web.namespace()).pem(),
            SERVER_CLIENT));
        names.forEach(fx::awaitFinal);
        // The listener is told right after the write the test just saw.
        Awaitility.await("the issuances to be counted").atMost(Duration.ofSeconds(10))
            .until(() -> Scrape.metrics(a.address()).get("kubemtls_signer_csrs_issued_total"), v -> v == 3.0);
        Map<String, Double> after = Scrape.metrics(a.address());
        print("leader after 6 CSRs", after);

        assertThat(delta(before, after, "kubemtls_signer_csrs_seen_total")).isEqualTo(6.0);
        assertThat(delta(before, after, "kubemtls_signer_csrs_approved_total")).isEqualTo(3.0);
        assertThat(delta(before, after, "kubemtls_signer_csrs_issued_total")).isEqualTo(3.0);
        assertThat(delta(before, after, "kubemtls_signer_issuance_duration_seconds_count")).isEqualTo(3.0);
        assertThat(delta(before, after, "kubemtls_signer_csrs_denied_total{reason=\"WildcardNotAllowed\"}"))
            .isEqualTo(2.0);
        assertThat(delta(before, after, "kubemtls_signer_csrs_denied_total{reason=\"EmailNotAllowed\"}"))
            .isEqualTo(1.0);
        assertThat(after.entrySet().stream().filter(e -> e.getKey().startsWith("kubemtls_signer_csrs_denied_total"))
            .mapToDouble(Map.Entry::getValue).sum()).isEqualTo(3.0);
        assertThat(after.entrySet().stream().filter(e -> e.getKey().startsWith("kubemtls_signer_csrs_failed_total"))
            .mapToDouble(Map.Entry::getValue).sum()).isEqualTo(1.0);
        // Nothing is left waiting. (A CSR whose update event arrived while a worker held it goes back
        // into the queue when that worker finishes, after the issuance was counted, and out again
        // as soon as a worker is scheduled: wait for that, do not read one instant.)
        Awaitility.await("the queue to drain").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
            .until(() -> Scrape.metrics(a.address()).get("kubemtls_signer_queue_depth"), v -> v == 0.0);
        // Second precision on the creation side: at most the test's own duration, more than nothing.
        assertThat(after.get("kubemtls_signer_issuance_duration_seconds_sum")).isLessThan(3 * 60.0);

        assertThat(Scrape.request(a.address(), "HEAD", "/metrics")).satisfies(r -> {
          assertThat(r.statusCode()).isEqualTo(200);
          assertThat(r.body()).isEmpty();
        });
        assertThat(Scrape.request(a.address(), "GET", "/nothing").statusCode()).isEqualTo(404);
        assertThat(Scrape.request(a.address(), "POST", "/metrics").statusCode()).isEqualTo(405);

        // The leader leaves: the standby takes over, and its /readyz and gauges say so.
        a.signer.close();
        assertThat(Scrape.request(a.address(), "GET", "/livez").statusCode()).isEqualTo(503);
        assertThat(Scrape.request(a.address(), "GET", "/readyz").statusCode()).isEqualTo(503);
        Awaitility.await("b's /readyz to say leader").atMost(Duration.ofSeconds(30))
            .pollInterval(Duration.ofMillis(100))
            .until(() -> Scrape.request(b.address(), "GET", "/readyz"),
                r -> r.statusCode() == 200 && r.body().equals("ok: leader\n"));
        // Ready means the informer's first list is in its cache; the handler is told of each CSR
        // after that, on the informer's own thread, so the count may still be climbing here.
        Awaitility.await("b's informer to tell of every CSR").atMost(Duration.ofSeconds(30))
            .pollInterval(Duration.ofMillis(100))
            .until(() -> Scrape.metrics(b.address()).get("kubemtls_signer_csrs_seen_total"), v -> v >= 7.0);
        Map<String, Double> taken = Scrape.metrics(b.address());
        print("standby after taking over", taken);
        assertThat(taken).containsEntry("kubemtls_signer_leader", 1.0).containsEntry("kubemtls_signer_ready", 1.0)
            // The new leader's informer brings every CSR of the signer name once; none needs work.
            .containsEntry("kubemtls_signer_csrs_seen_total", 7.0)
            .containsEntry("kubemtls_signer_csrs_issued_total", 0.0)
            .containsEntry("kubemtls_signer_csrs_approved_total", 0.0);
        assertThat(Scrape.request(b.address(), "GET", "/livez").body()).isEqualTo("ok\n");
      } finally {
        b.close();
      }
    } finally {
      a.close();
    }
  }

  @Test
  void aLeaderWhoseCsrInformerCannotSyncIsLiveButNotReady() {
    SignerFixture fx = SignerFixture.get();
    // A signer ServiceAccount that may hold its Lease and read its CA, but not list CSRs.
    String ns = fx.cp.createNamespace("metrics-unready");
    fx.cp.ensureServiceAccount(ns, "signer");
    fx.admin.secrets().inNamespace(ns).resource(fx.ca.toSecret(ns, "ca")).create();
    fx.admin.rbac().roles().inNamespace(ns).resource(new RoleBuilder().withNewMetadata().withName("signer")
        .endMetadata()
        .addNewRule().withApiGroups("coordination.k8s.io").withResources("leases")
        .withVerbs("create", "get", "patch", "update").endRule()
        .addNewRule().withApiGroups("").withResources("secrets").withVerbs("get", "create", "update").endRule()
        .build()).create();
    fx.admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("signer").endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("Role").withName("signer").endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withName("signer").withNamespace(ns).endSubject().build())
        .create();
    SignerConfig config = SignerConfig.builder("kube-mtls.dev/metrics-unready").caSecret(ns, "ca")
        .lease(ns, "signer", "unready-0")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    SignerMetrics metrics = new SignerMetrics(registry);
    try (Signer signer = metrics.bind(Signer.start(fx.cp.clientFor(ns, "signer"), config, fx.ca,
            InstantSource.system(), metrics));
        SignerServer server = SignerServer.start(new InetSocketAddress("127.0.0.1", 0), signer, registry)) {
      Awaitility.await("the replica to lead").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(signer::isLeader);
      HttpResponse<String> ready = Scrape.request(server.address(), "GET", "/readyz");
      assertThat(ready.statusCode()).isEqualTo(503);
      assertThat(ready.body()).isEqualTo("not ready: the CSR informer has not synced yet\n");
      assertThat(Scrape.request(server.address(), "GET", "/livez").statusCode()).isEqualTo(200);
      assertThat(Scrape.metrics(server.address())).containsEntry("kubemtls_signer_leader", 1.0)
          .containsEntry("kubemtls_signer_ready", 0.0);
    }
  }

  private static void print(String when, Map<String, Double> samples) {
    samples.forEach((k, v) -> {
      if (k.startsWith("kubemtls_signer_") && (v != 0.0 || !k.contains("{reason="))) {
        System.out.println(when + ": " + k + " " + v);
      }
    });
  }

  private static double delta(Map<String, Double> before, Map<String, Double> after, String key) {
    assertThat(after).containsKey(key);
    return after.get(key) - before.getOrDefault(key, 0.0);
  }

  /** A replica as SignerMain runs it: its meters in a Prometheus registry, served on a free loopback port. */
  private static final class Replica implements AutoCloseable {
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final SignerMetrics metrics = new SignerMetrics(registry);
    final Signer signer;
    final SignerServer server;

    Replica(SignerFixture fx, String identity) {
      SignerConfig config = SignerConfig.builder(SIGNER).caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca")
          .lease(SignerFixture.SIGNER_NS, "metrics-test", identity)
          .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
      signer = metrics.bind(Signer.start(fx.admin, config, fx.ca, InstantSource.system(), metrics));
      server = SignerServer.start(SignerServer.parseAddress("127.0.0.1:0").orElseThrow(), signer, registry);
    }

    InetSocketAddress address() {
      return server.address();
    }

    @Override
    public void close() {
      signer.close();
      server.close();
    }
  }
}
