package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * An {@link Error} thrown while one real CSR is processed: the CSR is marked Failed with
 * {@link CsrController#INTERNAL_ERROR} and counted, and the controller's only worker goes on issuing.
 */
class WorkerErrorIT {

  private static final String SIGNER = "kube-mtls.dev/worker-error-test";

  @Test
  void anErrorFailsItsCsrAndTheOnlyWorkerKeepsIssuing() {
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String ns = cp.createNamespace("worker-error");
    ShortLivedSigner.bindWorkload(admin, ns, "web");
    CertificateAuthority ca = CertificateAuthority.generate("worker-error CA", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    // The injection point is the CA supplier the controller calls for every signature: the first call
    // throws what a parser defeated by a hostile input would.
    AtomicBoolean armed = new AtomicBoolean(true);
    Map<String, String> failures = new ConcurrentHashMap<>();
    Map<String, Boolean> issued = new ConcurrentHashMap<>();
    SignerListener listener = new SignerListener() {
      @Override
      public void failed(String csrName, String reason) {
        failures.put(csrName, reason);
      }

      @Override
      public void issued(String csrName, java.security.cert.X509Certificate certificate) {
        issued.put(csrName, true);
      }
    };
    try (KubernetesClient workload = cp.clientFor(ns, "web");
        CsrController controller = new CsrController(admin, SIGNER,
            ApprovalPolicy.strict("cluster.local", "cluster.local"), () -> {
              if (armed.getAndSet(false)) {
                throw new StackOverflowError("injected");
              }
              return ca;
            }, InstantSource.system(), 1, Duration.ofMinutes(10), listener)) {
      controller.start();
      String spiffe = "spiffe://cluster.local/ns/" + ns + "/sa/web";
      String first = create(workload, TestCsr.builder().uri(spiffe).pem());
      CertificateSigningRequest failed = awaitFinal(admin, first);
      assertThat(failed.getStatus().getCertificate()).isNullOrEmpty();
      assertThat(failed.getStatus().getConditions()).anySatisfy(c -> {
        assertThat(c.getType()).isEqualTo("Failed");
        assertThat(c.getReason()).isEqualTo(CsrController.INTERNAL_ERROR);
        assertThat(c.getMessage()).contains("java.lang.StackOverflowError");
      });
      // The listener hears of a write after it returned, so possibly after the test saw it: wait for it.
      Awaitility.await("the failed() event of " + first).atMost(Duration.ofSeconds(10))
          .until(() -> failures.containsKey(first));
      assertThat(failures).containsEntry(first, CsrController.INTERNAL_ERROR);

      // The same single worker issues the next CSRs.
      for (int i = 0; i < 3; i++) {
        String next = create(workload, TestCsr.builder().uri(spiffe).pem());
        CertificateSigningRequest done = awaitFinal(admin, next);
        assertThat(done.getStatus().getCertificate()).as(next).isNotEmpty();
        Awaitility.await("the issued() event of " + next).atMost(Duration.ofSeconds(10))
            .until(() -> issued.containsKey(next));
      }
      assertThat(controller.stalled(Duration.ofMinutes(2))).isEmpty();
    }
  }

  private static String create(KubernetesClient client, String pem) {
    CertificateSigningRequest csr = new CertificateSigningRequestBuilder().withNewMetadata()
        .withGenerateName("kube-mtls-worker-error-").endMetadata().withNewSpec().withSignerName(SIGNER)
        .withRequest(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)))
        .withUsages(List.of("digital signature", "client auth")).withExpirationSeconds(600).endSpec().build();
    return client.certificates().v1().certificateSigningRequests().resource(csr).create().getMetadata().getName();
  }

  private static CertificateSigningRequest awaitFinal(KubernetesClient admin, String name) {
    return Awaitility.await("CSR " + name + " to be issued or failed").atMost(Duration.ofSeconds(60))
        .pollInterval(Duration.ofMillis(50))
        .until(() -> admin.certificates().v1().certificateSigningRequests().withName(name).get(),
            c -> c != null && c.getStatus() != null && ((c.getStatus().getCertificate() != null
                && !c.getStatus().getCertificate().isEmpty()) || c.getStatus().getConditions().stream()
                .anyMatch(k -> k.getType().equals("Denied") || k.getType().equals("Failed"))));
  }
}
