package dev.kubemtls.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.rotation.IssuanceProgress;
import dev.kubemtls.kubernetes.csr.ShippedWorkloadRbac;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.RecordingClient;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link KubeMtls} against a real kube-apiserver, with no signer running, acting as a workload that
 * holds the shipped workload RBAC: what {@link KubeMtls#close()} does with the request in flight.
 */
class KubeMtlsIT {

  static final String SIGNER = "kube-mtls.test/kubemtls-it";
  static final TestCa CA = TestCa.create("kubemtls-it-ca");

  final ControlPlane cp = ControlPlane.shared();
  final KubernetesClient admin = cp.adminClient();
  final List<String> bindings = new ArrayList<>();
  String ns;
  KubernetesClient workload;
  WorkloadIdentity identity;

  @BeforeEach
  void workload() {
    ShippedWorkloadRbac.apply(admin);
    ns = cp.createNamespace("kubemtls-it");
    Pod pod = cp.createPod(ns, "orders-0", "orders", Map.of("app", "orders"), "10.40.0.7");
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CSR_ROLE, ns, "orders"));
    ShippedWorkloadRbac.bindInNamespace(admin, ShippedWorkloadRbac.BUNDLE_ROLE, ns, "orders");
    // The bundle as a signer publishes it: signed by the CA, which also signs this test's CSRs.
    admin.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata()
        .withName(KubeMtls.DEFAULT_BUNDLE_CONFIGMAP).endMetadata().withData(Map.of("ca.crt", CA.certificatePem(),
            "ca.crt.sig", dev.kubemtls.core.pki.BundleSignatures.sign(CA.certificatePem(),
                java.util.List.of(new dev.kubemtls.core.pki.BundleSignatures.Signer(CA.certificate(),
                    CA.keyPair().getPrivate())), java.time.Instant.now())))
        .build()).create();
    workload = cp.clientFor(ns, "orders", pod);
    ShippedWorkloadRbac.awaitAllowed(workload, "watch");
    identity = WorkloadIdentity.builder(ns, "orders").services("orders").podName("orders-0").podIp("10.40.0.7")
        .build();
  }

  @AfterEach
  void cleanUp() {
    workload.close();
    bindings.forEach(b -> admin.rbac().clusterRoleBindings().withName(b).delete());
  }

  KubeMtls start(boolean deleteRequests) {
    return KubeMtls.forWorkload(workload).identity(identity).signerName(SIGNER).trustConfigMap()
        .deleteRequests(deleteRequests)
        .issuanceTimeout(Duration.ofMinutes(2)).start();
  }

  /** The CSR the workload is waiting on, once its manager reports it waiting for approval. */
  CertificateSigningRequest awaitWaiting(KubeMtls tls) {
    IssuanceProgress progress = await().atMost(Duration.ofSeconds(30))
        .until(() -> tls.manager().status().inProgress().orElse(null),
            p -> p != null && p.stage() == IssuanceProgress.Stage.AWAITING_APPROVAL);
    CertificateSigningRequest csr = admin.certificates().v1().certificateSigningRequests()
        .withName(progress.request()).get();
    assertThat(csr).isNotNull();
    assertThat(csr.getSpec().getUsername()).isEqualTo("system:serviceaccount:" + ns + ":orders");
    return csr;
  }

  @Test
  void closingDeletesTheRequestInFlightWhenAskedAndAllowed() {
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CLEANUP_ROLE, ns, "orders"));
    ShippedWorkloadRbac.awaitAllowed(workload, "delete");
    KubeMtls tls = start(true);
    CertificateSigningRequest csr = awaitWaiting(tls);

    tls.close();

    // Gone when close() returns: it lets the interrupted issuance delete its request.
    assertThat(admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).get())
        .isNull();
  }

  /**
   * The request is watched as a stream on the HTTP/2 connection the workload's client already has,
   * not over a WebSocket (a connection and TLS handshake of its own), and the watch carries the
   * signer's answer: here a denial, which ends the start.
   */
  @Test
  void theRequestIsWatchedOverTheClientsConnectionNotAWebSocket() {
    java.util.Queue<String> requests = new java.util.concurrent.ConcurrentLinkedQueue<>();
    // Each request as "WEBSOCKET path", "WATCH path" or "METHOD path".
    try (KubernetesClient counted = RecordingClient.of(workload, r -> requests.add(r.toString()));
        KubeMtls tls = KubeMtls.forWorkload(counted).identity(identity).signerName(SIGNER).trustConfigMap()
            .podEvents(false).finalDenialReasons(List.of("KubeMtlsItDenied")).issuanceTimeout(Duration.ofMinutes(2))
            .start()) {
      CertificateSigningRequest csr = awaitWaiting(tls);
      admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName())
          .deny(new io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder()
              .withType("Denied").withStatus("True").withReason("KubeMtlsItDenied").withMessage("ends the test")
              .build());
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> tls.awaitReady(Duration.ofSeconds(30)))
          .isInstanceOf(dev.kubemtls.core.CertificateDeniedException.class);
      assertThat(requests).as("the requests sent")
          .anyMatch(r -> r.equals("WATCH /apis/certificates.k8s.io/v1/certificatesigningrequests"))
          .noneMatch(r -> r.startsWith("WEBSOCKET") && r.endsWith("/certificatesigningrequests"));
      // The bundle ConfigMap (a watch as long-lived as the workload) stays on the client's own choice.
    } finally {
      admin.certificates().v1().certificateSigningRequests().withLabel("app.kubernetes.io/managed-by", "kube-mtls")
          .list().getItems().stream().filter(c -> c.getSpec().getUsername().endsWith(":" + ns + ":orders"))
          .forEach(c -> admin.certificates().v1().certificateSigningRequests().resource(c).delete());
    }
  }

  @Test
  void closingLeavesTheRequestPendingByDefault() {
    KubeMtls tls = start(false);
    CertificateSigningRequest csr = awaitWaiting(tls);

    tls.close();

    CertificateSigningRequest left = admin.certificates().v1().certificateSigningRequests()
        .withName(csr.getMetadata().getName()).get();
    assertThat(left).isNotNull();
    assertThat(left.getStatus() == null || left.getStatus().getConditions() == null
        || left.getStatus().getConditions().isEmpty()).as("still pending, for the cluster's CSR cleaner").isTrue();
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).delete();
  }
}
