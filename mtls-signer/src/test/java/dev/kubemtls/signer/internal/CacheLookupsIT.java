package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.SIGNER_NAME;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The approver's Pod and Service caches ({@code --lookups=cache}, the shared replicas' default) on
 * the real control plane: a change made just before a request arrives may not have reached the
 * caches, and the request must be decided as the API server sees it, never denied from a stale
 * cache. The per-request mode ({@code --lookups=request}) is exercised by a replica of its own.
 */
class CacheLookupsIT {

  private static SignerFixture fx;

  @BeforeAll
  static void setUp() {
    fx = SignerFixture.get();
    fx.awaitLeader();
  }

  @Test
  void aPodIpChangedJustBeforeTheRequestIsIssued() throws Exception {
    SignerFixture.Workload w = fx.workload("cache-ip");
    // Warm: the caches hold the Pod with its first IP.
    assertIssued(createCsr(w.client(), SIGNER_NAME, TestCsr.builder().uri(w.spiffeId()).ip(w.podIp()).pem(),
        SERVER_CLIENT));
    String newIp = "10.78.0." + (Math.abs(w.namespace().hashCode()) % 250 + 1);
    Pod pod = fx.admin.pods().inNamespace(w.namespace()).withName("web-0").get();
    pod.setStatus(new PodStatusBuilder(pod.getStatus()).withPodIP(newIp)
        .withPodIPs(new PodIPBuilder().withIp(newIp).build()).build());
    fx.admin.pods().inNamespace(w.namespace()).resource(pod).updateStatus();
    // At once, before the watch event can be relied upon.
    X509Certificate cert = assertIssued(createCsr(w.client(), SIGNER_NAME,
        TestCsr.builder().uri(w.spiffeId()).ip(newIp).pem(), SERVER_CLIENT));
    assertThat(cert.getSubjectAlternativeNames()).contains(List.of(7, newIp));
  }

  @Test
  void aServiceSelectorChangedJustBeforeTheRequestIsIssued() {
    SignerFixture.Workload w = fx.workload("cache-svc");
    String ns = w.namespace();
    fx.admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("api").endMetadata()
        .withNewSpec().addToSelector("app", "other").addNewPort().withPort(443).endPort().endSpec().build()).create();
    assertDenied(createCsr(w.client(), SIGNER_NAME, TestCsr.builder().dns("api." + ns + ".svc").pem(), SERVER_CLIENT),
        ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    fx.admin.services().inNamespace(ns).withName("api")
        .edit(s -> new ServiceBuilder(s).editSpec().withSelector(Map.of("app", "web")).endSpec().build());
    assertIssued(createCsr(w.client(), SIGNER_NAME, TestCsr.builder().dns("api." + ns + ".svc").pem(), SERVER_CLIENT));
  }

  @Test
  void aPodCreatedJustBeforeTheRequestIsIssued() {
    SignerFixture.Workload w = fx.workload("cache-new-pod");
    String ns = w.namespace();
    Pod fresh = fx.cp.createPod(ns, "web-1", "web", Map.of("app", "web"), "10.79.0.1");
    try (KubernetesClient client = fx.cp.clientFor(ns, "web", fresh)) {
      assertIssued(createCsr(client, SIGNER_NAME, TestCsr.builder().dns("web." + ns + ".svc").ip("10.79.0.1").pem(),
          SERVER_CLIENT));
    }
  }

  @Test
  void thePerRequestModeApprovesAndDeniesLikeTheCache() {
    String signerName = "kube-mtls.dev/request-lookups";
    // A CA Secret, bundle and opt-in label of its own, so that it shares no state with the fixture's replicas.
    fx.admin.secrets().inNamespace(SignerFixture.SIGNER_NS).resource(fx.ca.toSecret(SignerFixture.SIGNER_NS,
        "request-lookups-ca")).forceConflicts().serverSideApply();
    SignerConfig config = SignerConfig.builder(signerName).caSecret(SignerFixture.SIGNER_NS, "request-lookups-ca")
        .bundle("request-lookups-bundle", "ca.crt").namespaceLabel("kube-mtls.dev/request-lookups=true")
        .lease(SignerFixture.SIGNER_NS, "request-lookups", "request-lookups-0")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .lookups(SignerConfig.LookupMode.REQUEST).build();
    try (Signer signer = Signer.start(fx.admin, config, fx.ca, InstantSource.system())) {
      SignerFixture.Workload w = fx.workload("request-mode");
      String ns = w.namespace();
      org.awaitility.Awaitility.await("leader").atMost(Duration.ofSeconds(30)).until(signer::isLeader);
      CertificateSigningRequest ok = fx.awaitFinal(createCsr(w.client(), signerName,
          TestCsr.builder().uri(w.spiffeId()).dns("web." + ns + ".svc").ip(w.podIp()).pem(), SERVER_CLIENT));
      assertThat(ok.getStatus().getCertificate()).isNotEmpty();
      CertificateSigningRequest denied = fx.awaitFinal(createCsr(w.client(), signerName,
          TestCsr.builder().dns("db." + ns + ".svc").pem(), SERVER_CLIENT));
      assertThat(denied.getStatus().getConditions()).singleElement()
          .satisfies(c -> assertThat(c.getReason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    }
  }

  private static X509Certificate assertIssued(String name) {
    CertificateSigningRequest done = fx.awaitFinal(name);
    assertThat(done.getStatus().getConditions()).as(name).noneSatisfy(c -> assertThat(c.getType()).isEqualTo("Denied"));
    return SignerFixture.certificateOf(done);
  }

  private static void assertDenied(String name, String reason) {
    CertificateSigningRequest done = fx.awaitFinal(name);
    assertThat(done.getStatus().getConditions()).as(name).singleElement().satisfies(c -> {
      assertThat(c.getType()).isEqualTo("Denied");
      assertThat(c.getReason()).isEqualTo(reason);
    });
  }
}
