package dev.kubemtls.kubernetes.csr;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The shipped workload RBAC ({@code mtls-signer/deploy/workload-rbac.yaml}, applied unchanged) on a
 * real kube-apiserver: a workload's ServiceAccount can request and follow its own certificate, and
 * can neither delete nor alter a CSR it did not create (another workload's, an admin's, a denied one
 * kept as evidence), nor its own. The opt-in cleanup role really is cluster-wide, as documented.
 */
class WorkloadRbacIT {

  static final String SIGNER = "kube-mtls.test/rbac-it";
  static final TestCa CA = TestCa.create("rbac-it-ca");

  final ControlPlane cp = ControlPlane.shared();
  final KubernetesClient admin = cp.adminClient();
  final List<String> bindings = new ArrayList<>();
  final List<String> csrs = new ArrayList<>();
  String ns;
  KubernetesClient orders;
  KubernetesClient payments;
  WorkloadIdentity ordersId;
  WorkloadIdentity paymentsId;

  @BeforeEach
  void twoWorkloadsWithTheShippedRbac() {
    ShippedWorkloadRbac.apply(admin);
    ns = cp.createNamespace("rbac-it");
    Pod ordersPod = cp.createPod(ns, "orders-0", "orders", Map.of("app", "orders"), "10.30.0.7");
    Pod paymentsPod = cp.createPod(ns, "payments-0", "payments", Map.of("app", "payments"), "10.30.0.8");
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CSR_ROLE, ns, "orders"));
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CSR_ROLE, ns, "payments"));
    orders = cp.clientFor(ns, "orders", ordersPod);
    payments = cp.clientFor(ns, "payments", paymentsPod);
    ShippedWorkloadRbac.awaitAllowed(orders, "create");
    ShippedWorkloadRbac.awaitAllowed(payments, "create");
    ordersId = WorkloadIdentity.builder(ns, "orders").services("orders").podName("orders-0").podIp("10.30.0.7").build();
    paymentsId = WorkloadIdentity.builder(ns, "payments").services("payments").podName("payments-0")
        .podIp("10.30.0.8").build();
  }

  @AfterEach
  void cleanUp() {
    orders.close();
    payments.close();
    bindings.forEach(b -> admin.rbac().clusterRoleBindings().withName(b).delete());
    csrs.forEach(c -> admin.certificates().v1().certificateSigningRequests().withName(c).delete());
  }

  CertificateSigningRequest create(KubernetesClient as, WorkloadIdentity id) {
    CertificateIssuer issuer = CertificateIssuer.builder(as, id, SIGNER).build();
    CertificateSigningRequest created = as.certificates().v1().certificateSigningRequests()
        .resource(issuer.csrFor(KeyAlgorithm.EC_P256.generate(new SecureRandom()))).create();
    csrs.add(created.getMetadata().getName());
    return created;
  }

  CertificateSigningRequest read(CertificateSigningRequest csr) {
    return admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).get();
  }

  static void forbidden(String what, ThrowingCallable call) {
    assertThatThrownBy(call).as(what).isInstanceOfSatisfying(KubernetesClientException.class,
        e -> assertThat(e.getCode()).as(what + ": HTTP status").isEqualTo(403));
  }

  @Test
  void aWorkloadCanNeitherDeleteNorAlterACsrItDidNotCreate() {
    CertificateSigningRequest others = create(payments, paymentsId);
    CertificateSigningRequest adminsOwn = create(admin, WorkloadIdentity.builder(ns, "cluster-admin").build());
    CertificateSigningRequest denied = create(payments, paymentsId);
    admin.certificates().v1().certificateSigningRequests().withName(denied.getMetadata().getName())
        .deny(new CertificateSigningRequestConditionBuilder().withType("Denied").withStatus("True")
            .withReason("DNSNameNotOwned").withMessage("kept as evidence").build());
    CertificateSigningRequest own = create(orders, ordersId);

    var csrApi = orders.certificates().v1().certificateSigningRequests();
    for (CertificateSigningRequest target : List.of(others, adminsOwn, denied, own)) {
      String name = target.getMetadata().getName();
      CertificateSigningRequest before = read(target);
      forbidden("delete " + name, () -> csrApi.withName(name).delete());
      forbidden("patch the labels of " + name, () -> csrApi.withName(name).edit(c -> {
        c.getMetadata().getLabels().put("tampered", "true");
        return c;
      }));
      forbidden("update " + name, () -> {
        CertificateSigningRequest copy = csrApi.withName(name).get();
        copy.getMetadata().getLabels().put("tampered", "true");
        csrApi.resource(copy).update();
      });
      forbidden("approve " + name, () -> csrApi.withName(name).approve(new CertificateSigningRequestConditionBuilder()
          .withType("Approved").withStatus("True").withReason("SelfApproved").withMessage("by the workload").build()));
      forbidden("write the status of " + name, () -> csrApi.withName(name).editStatus(c -> {
        c.getStatus().setCertificate(Base64.getEncoder().encodeToString(
            CA.certificatePem().getBytes(StandardCharsets.US_ASCII)));
        return c;
      }));
      CertificateSigningRequest after = read(target);
      assertThat(after).as(name + " still there").isNotNull();
      assertThat(after.getMetadata().getResourceVersion()).as(name + " unchanged")
          .isEqualTo(before.getMetadata().getResourceVersion());
    }
    forbidden("delete every CSR", () -> csrApi.delete());
    forbidden("list every CSR", () -> csrApi.list());
    assertThat(ShippedWorkloadRbac.allowed(orders, "delete")).isFalse();
    assertThat(ShippedWorkloadRbac.allowed(orders, "deletecollection")).isFalse();
    assertThat(ShippedWorkloadRbac.allowed(orders, "update")).isFalse();
    assertThat(ShippedWorkloadRbac.allowed(orders, "patch")).isFalse();
  }

  @Test
  void theShippedRoleIsEnoughToObtainACertificate() throws Exception {
    // create, get and watch: the watch by metadata.name is authorized as a watch of that one name.
    CertificateIssuer issuer = CertificateIssuer.builder(orders, ordersId, SIGNER).timeout(Duration.ofSeconds(60))
        .build();
    CompletableFuture<TlsIdentity> result = CompletableFuture.supplyAsync(() -> {
      try {
        return issuer.issue(1);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    String user = "system:serviceaccount:" + ns + ":orders";
    CertificateSigningRequest csr = org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
        .until(() -> admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER)
            .list().getItems().stream().filter(c -> user.equals(c.getSpec().getUsername())).findFirst().orElse(null),
            c -> c != null);
    csrs.add(csr.getMetadata().getName());
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName())
        .approve(new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
            .withReason("RbacItApproved").withMessage("approved by the test").build());
    X509Certificate leaf = CA.leaf(CertificateIssuerIT.requestedKey(csr)).commonName(ordersId.username())
        .dns(ordersId.dnsNames().toArray(String[]::new)).ip("10.30.0.7").spiffe(ns, "orders").build();
    String pem = dev.kubemtls.core.pki.Pem.encodeCertificates(List.of(leaf));
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).editStatus(c -> {
      c.getStatus().setCertificate(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)));
      return c;
    });
    assertThat(result.get(60, TimeUnit.SECONDS).leaf()).isEqualTo(leaf);
  }

  @Test
  void theOptInCleanupRoleIsClusterWideAsDocumented() {
    CertificateSigningRequest adminsOwn = create(admin, WorkloadIdentity.builder(ns, "cluster-admin").build());
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CLEANUP_ROLE, ns, "payments"));
    ShippedWorkloadRbac.awaitAllowed(payments, "delete");

    payments.certificates().v1().certificateSigningRequests().withName(adminsOwn.getMetadata().getName()).delete();

    assertThat(read(adminsOwn)).isNull();
    // Deleting is all it adds: still no altering.
    CertificateSigningRequest others = create(orders, ordersId);
    forbidden("approve another's", () -> payments.certificates().v1().certificateSigningRequests()
        .withName(others.getMetadata().getName()).approve(new CertificateSigningRequestConditionBuilder()
            .withType("Approved").withStatus("True").withReason("X").withMessage("x").build()));
  }
}
