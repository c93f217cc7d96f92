package dev.kubemtls.kubernetes.csr;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.rotation.IssuanceProgress;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.trust.TrustBundles;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link CertificateIssuer} against a real kube-apiserver. The test plays approver and signer
 * itself (admin client, {@link TestCa}), so core is tested independently of mtls-signer. The
 * workload authenticates with a ServiceAccount token bound to its Pod and holds only the shipped
 * workload RBAC ({@link ShippedWorkloadRbac}): the CSR role, plus the cleanup role where a test
 * lets it delete.
 */
class CertificateIssuerIT {

  static final String SIGNER = "kube-mtls.test/core-it";
  static final String SA = "orders";
  static final String POD_IP = "10.20.0.7";

  static ControlPlane cp;
  static KubernetesClient admin;
  static final TestCa CA = TestCa.create("core-it-ca");
  static ExecutorService executor;

  String ns;
  KubernetesClient workload;
  WorkloadIdentity identity;
  final List<String> bindings = new ArrayList<>();

  @BeforeAll
  static void startControlPlane() {
    cp = ControlPlane.shared();
    admin = cp.adminClient();
    ShippedWorkloadRbac.apply(admin);
    executor = Executors.newCachedThreadPool();
  }

  @AfterAll
  static void stop() {
    executor.shutdownNow();
  }

  @BeforeEach
  void workload() {
    ns = cp.createNamespace("core-it");
    Pod pod = cp.createPod(ns, "orders-0", SA, Map.of("app", "orders"), POD_IP);
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CSR_ROLE, ns, SA));
    workload = cp.clientFor(ns, SA, pod);
    ShippedWorkloadRbac.awaitAllowed(workload, "watch");
    identity = WorkloadIdentity.builder(ns, SA).services("orders").podName("orders-0").podIp(POD_IP).build();
  }

  @AfterEach
  void closeWorkload() {
    workload.close();
    bindings.forEach(b -> admin.rbac().clusterRoleBindings().withName(b).delete());
  }

  /** Opts this test's workload into deleting CSRs: the shipped cleanup role, bound cluster-wide. */
  void allowDeletion() {
    bindings.add(ShippedWorkloadRbac.bind(admin, ShippedWorkloadRbac.CLEANUP_ROLE, ns, SA));
    ShippedWorkloadRbac.awaitAllowed(workload, "delete");
  }

  CertificateSigningRequest read(CertificateSigningRequest csr) {
    return admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).get();
  }

  CertificateIssuer.Builder issuer() {
    return CertificateIssuer.builder(workload, identity, SIGNER).timeout(Duration.ofSeconds(30));
  }

  Future<TlsIdentity> issueInBackground(CertificateIssuer issuer) {
    return executor.submit(() -> issuer.issue(1));
  }

  /** The pending CSR of this test's workload, as the API server recorded its requester. */
  CertificateSigningRequest awaitCsr() {
    String user = "system:serviceaccount:" + ns + ":" + SA;
    return await().atMost(Duration.ofSeconds(30)).until(() -> admin.certificates().v1().certificateSigningRequests()
        .withField("spec.signerName", SIGNER).list().getItems().stream()
        .filter(c -> user.equals(c.getSpec().getUsername())).findFirst().orElse(null), c -> c != null);
  }

  /** Every CSR of this test's workload, by the requester the API server recorded. */
  List<CertificateSigningRequest> csrsOfWorkload() {
    String user = "system:serviceaccount:" + ns + ":" + SA;
    return admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER).list()
        .getItems().stream().filter(c -> user.equals(c.getSpec().getUsername())).toList();
  }

  static String nameOf(CertificateSigningRequest csr) {
    return csr.getMetadata().getName();
  }

  static CertificateSigningRequestCondition condition(String type, String reason, String message) {
    return new CertificateSigningRequestConditionBuilder().withType(type).withStatus("True").withReason(reason)
        .withMessage(message).build();
  }

  void approve(CertificateSigningRequest csr) {
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName())
        .approve(condition("Approved", "CoreItApproved", "approved by the test"));
  }

  void editStatus(CertificateSigningRequest csr, UnaryOperator<CertificateSigningRequest> edit) {
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).editStatus(edit);
  }

  void sign(CertificateSigningRequest csr, X509Certificate... chain) {
    String pem = Pem.encodeCertificates(List.of(chain));
    editStatus(csr, c -> {
      c.getStatus().setCertificate(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)));
      return c;
    });
  }

  static PublicKey requestedKey(CertificateSigningRequest csr) throws Exception {
    String pem = new String(Base64.getDecoder().decode(csr.getSpec().getRequest()), StandardCharsets.US_ASCII);
    try (PEMParser parser = new PEMParser(new StringReader(pem))) {
      return new JcaPKCS10CertificationRequest((org.bouncycastle.pkcs.PKCS10CertificationRequest) parser.readObject())
          .getPublicKey();
    }
  }

  TestCa.LeafBuilder leafFor(PublicKey key) {
    return CA.leaf(key).commonName(identity.username()).dns(identity.dnsNames().toArray(String[]::new))
        .ip(POD_IP).spiffe(ns, SA);
  }

  static Throwable failureOf(Future<?> future) throws InterruptedException {
    try {
      future.get(60, TimeUnit.SECONDS);
      throw new AssertionError("expected issuance to fail");
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("issuance did not finish", e);
    }
  }

  @Test
  void aTakenRequestNameFallsBackToAGeneratedOneWatchedAfterItsCreate() throws Exception {
    // Another CSR already holds the name the issuer will choose (its random part fixed here).
    String taken = "kube-mtls-" + SA + "-taken-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    CertificateIssuer issuer = issuer().nameSuffixes(() -> taken.substring(("kube-mtls-" + SA + "-").length()))
        .build();
    CertificateSigningRequest other = issuer.csrFor(KeyAlgorithm.EC_P256.generate(new java.security.SecureRandom()));
    other.getMetadata().setGenerateName(null);
    other.getMetadata().setName(taken);
    admin.certificates().v1().certificateSigningRequests().resource(other).create();
    try {
      Future<TlsIdentity> result = issueInBackground(issuer);
      CertificateSigningRequest csr = awaitCsr();
      assertThat(nameOf(csr)).startsWith("kube-mtls-orders-").isNotEqualTo(taken);
      approve(csr);
      X509Certificate leaf = leafFor(requestedKey(csr)).build();
      sign(csr, leaf);

      assertThat(result.get(60, TimeUnit.SECONDS).leaf()).isEqualTo(leaf);
      assertThat(csrsOfWorkload()).extracting(CertificateIssuerIT::nameOf).containsExactly(nameOf(csr));
    } finally {
      admin.certificates().v1().certificateSigningRequests().withName(taken).delete();
    }
  }

  @Test
  void issuesValidatesAgainstAConfigMapBundleAndLeavesTheCsrForTheCleaner() throws Exception {
    admin.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName("kube-mtls-ca")
        .endMetadata().withData(Map.of("ca.crt", CA.certificatePem())).build()).create();
    TrustBundle bundle = TrustBundles.read(admin, ns, "kube-mtls-ca");
    assertThat(bundle.sourceVersion()).startsWith(ns + "/kube-mtls-ca@");

    Future<TlsIdentity> result = issueInBackground(issuer().trustBundle(() -> bundle)
        .expiration(Duration.ofHours(1)).build());
    CertificateSigningRequest csr = awaitCsr();
    assertThat(csr.getMetadata().getName()).startsWith("kube-mtls-orders-");
    assertThat(csr.getSpec().getUsages()).containsExactly("digital signature", "server auth", "client auth");
    assertThat(csr.getSpec().getExpirationSeconds()).isEqualTo(3600);
    approve(csr);
    X509Certificate leaf = leafFor(requestedKey(csr)).build();
    sign(csr, leaf);

    TlsIdentity issued = result.get(60, TimeUnit.SECONDS);
    assertThat(issued.leaf()).isEqualTo(leaf);
    assertThat(issued.generation()).isEqualTo(1);
    assertThat(PeerIdentity.of(issued.leaf()).spiffeId()).contains(identity.spiffeId().toString());
    // Deleting is opt-in (it needs a cluster-wide delete): by default the cluster's CSR cleaner does it.
    assertThat(read(csr)).isNotNull();
  }

  @Test
  void deletesTheIssuedCsrWhenAskedAndAllowed() throws Exception {
    allowDeletion();
    Future<TlsIdentity> result = issueInBackground(issuer().deleteRequests(true).build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    sign(csr, leafFor(requestedKey(csr)).build(), CA.certificate());
    assertThat(result.get(60, TimeUnit.SECONDS).chain()).hasSize(2);
    assertThat(read(csr)).isNull();
  }

  @Test
  void askedToDeleteWithoutTheCleanupRoleTheIssuanceStillSucceeds() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().deleteRequests(true).build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    X509Certificate leaf = leafFor(requestedKey(csr)).build();
    sign(csr, leaf);
    assertThat(result.get(60, TimeUnit.SECONDS).leaf()).isEqualTo(leaf);
    assertThat(read(csr)).isNotNull(); // 403, logged with the role it needs
  }

  @Test
  void aTimedOutRequestIsDeletedWhenAskedAndAllowed() throws Exception {
    allowDeletion();
    Future<TlsIdentity> result = issueInBackground(issuer().deleteRequests(true).timeout(Duration.ofSeconds(3)).build());
    CertificateSigningRequest csr = awaitCsr();
    assertThat(failureOf(result)).isInstanceOf(IssuanceTimeoutException.class);
    assertThat(read(csr)).isNull();
  }

  @Test
  void anInterruptedWaitDeletesItsRequestWhenAskedAndAllowed() throws Exception {
    allowDeletion();
    CertificateIssuer issuer = issuer().deleteRequests(true).build();
    java.util.concurrent.CompletableFuture<Throwable> outcome = new java.util.concurrent.CompletableFuture<>();
    Thread waiter = new Thread(() -> {
      try {
        issuer.issue(1);
        outcome.complete(null);
      } catch (Throwable t) {
        outcome.complete(t);
      }
    }, "core-it-interrupted-deleting-issuer");
    waiter.start();
    CertificateSigningRequest csr = awaitCsr();
    waiter.interrupt();
    assertThat(outcome.get(30, TimeUnit.SECONDS)).isInstanceOf(InterruptedException.class);
    assertThat(read(csr)).isNull();
  }

  @Test
  void aDeniedRequestIsKeptEvenWhenDeletionIsAllowed() throws Exception {
    allowDeletion();
    Future<TlsIdentity> result = issueInBackground(issuer().deleteRequests(true).build());
    CertificateSigningRequest csr = awaitCsr();
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName())
        .deny(condition("Denied", "DNSNameNotOwned", "kept as evidence"));
    assertThat(failureOf(result)).isInstanceOf(CertificateDeniedException.class);
    assertThat(read(csr)).isNotNull();
  }

  @Test
  void deniedCarriesTheApproversReason() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().build());
    CertificateSigningRequest csr = awaitCsr();
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName())
        .deny(condition("Denied", "DNSNameNotOwned", "orders does not own payments.shop"));
    assertThat(failureOf(result)).isInstanceOfSatisfying(CertificateDeniedException.class, e -> {
      assertThat(e.reason()).isEqualTo("DNSNameNotOwned");
      assertThat(e.approverMessage()).isEqualTo("orders does not own payments.shop");
      assertThat(e.csrName()).isEqualTo(csr.getMetadata().getName());
    });
  }

  @Test
  void failedCarriesTheSignersReason() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    editStatus(csr, c -> {
      List<CertificateSigningRequestCondition> conditions = new ArrayList<>(c.getStatus().getConditions());
      conditions.add(condition("Failed", "SignerUnavailable", "the CA key is not loaded"));
      c.getStatus().setConditions(conditions);
      return c;
    });
    assertThat(failureOf(result)).isInstanceOfSatisfying(CertificateFailedException.class,
        e -> assertThat(e.reason()).isEqualTo("SignerUnavailable")).hasMessageContaining("the CA key is not loaded");
  }

  @Test
  void deletingTheCsrWhileWaitingFails() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().build());
    CertificateSigningRequest csr = awaitCsr();
    admin.certificates().v1().certificateSigningRequests().withName(csr.getMetadata().getName()).delete();
    assertThat(failureOf(result)).isInstanceOfSatisfying(CertificateFailedException.class,
        e -> assertThat(e.reason()).isEqualTo("Deleted"));
  }

  @Test
  void timesOutWaitingForApproval() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().timeout(Duration.ofSeconds(3)).build());
    CertificateSigningRequest csr = awaitCsr();
    assertThat(failureOf(result)).isInstanceOfSatisfying(IssuanceTimeoutException.class, e -> {
      assertThat(e.stage()).isEqualTo(IssuanceTimeoutException.Stage.APPROVAL);
      assertThat(e.csrName()).isEqualTo(csr.getMetadata().getName());
    });
    // Not allowed to delete (the default): left pending for the cluster's CSR cleaner (24 h).
    CertificateSigningRequest left = read(csr);
    assertThat(left).isNotNull();
    assertThat(left.getStatus() == null || left.getStatus().getConditions() == null
        || left.getStatus().getConditions().isEmpty()).isTrue();
  }

  @Test
  void timesOutWaitingForTheSignatureOnceApproved() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().timeout(Duration.ofSeconds(6)).build());
    approve(awaitCsr());
    assertThat(failureOf(result)).isInstanceOfSatisfying(IssuanceTimeoutException.class,
        e -> assertThat(e.stage()).isEqualTo(IssuanceTimeoutException.Stage.SIGNATURE));
  }

  @Test
  void whenAwaitReadyGivesUpTheManagerNamesTheCsrAndTheStageItWaitsIn() throws Exception {
    CertificateIssuer issuer = issuer().timeout(Duration.ofMinutes(2)).build();
    ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2);
    try (CertificateManager manager = CertificateManager.builder().issuer(issuer)
        .trust(new TrustPublisher(new TrustBundle(List.of(CA.certificate()), "test/core-it-ca")))
        .scheduler(scheduler).build()) {
      manager.start();
      CertificateSigningRequest csr = awaitCsr();
      String name = csr.getMetadata().getName();

      // No approver, no signer.
      await().atMost(Duration.ofSeconds(30)).until(() -> manager.status().inProgress()
          .filter(p -> p.stage() == IssuanceProgress.Stage.AWAITING_APPROVAL).isPresent());
      assertThat(manager.status().inProgress().orElseThrow().request()).isEqualTo(name);
      assertThatThrownBy(() -> manager.awaitReady(Duration.ofMillis(200))).isInstanceOf(MtlsException.class)
          .hasMessageContaining("issuance in progress, request " + name + ": waiting for approval")
          .hasMessageContaining("does it serve signerName " + SIGNER);

      // An approver that approves, and no signer.
      approve(csr);
      await().atMost(Duration.ofSeconds(30)).until(() -> manager.status().inProgress()
          .filter(p -> p.stage() == IssuanceProgress.Stage.AWAITING_SIGNATURE).isPresent());
      assertThatThrownBy(() -> manager.awaitReady(Duration.ofMillis(200))).isInstanceOf(MtlsException.class)
          .hasMessageContaining("issuance in progress, request " + name + ": approved, waiting for the signer")
          .hasMessageContaining("is the signer for " + SIGNER + " running");

      X509Certificate leaf = leafFor(requestedKey(csr)).build();
      sign(csr, leaf);
      assertThat(manager.awaitReady(Duration.ofSeconds(60)).identity().leaf()).isEqualTo(leaf);
      assertThat(manager.status().inProgress()).isEmpty();
    } finally {
      scheduler.shutdownNow();
    }
  }

  @Test
  void rejectsACertificateForAnotherKey() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    sign(csr, leafFor(TestCa.newKeyPair().getPublic()).build());
    assertThat(failureOf(result)).isInstanceOfSatisfying(CertificateFailedException.class,
        e -> assertThat(e.reason()).isEqualTo("InvalidCertificate")).hasMessageContaining("different public key");
  }

  @Test
  void rejectsACertificateMissingARequestedName() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    sign(csr, CA.leaf(requestedKey(csr)).dns("orders").ip(POD_IP).spiffe(ns, SA).build());
    assertThat(failureOf(result)).isInstanceOfSatisfying(CertificateFailedException.class,
        e -> assertThat(e.reason()).isEqualTo("InvalidCertificate"))
        .hasMessageContaining("lacks the requested DNS name orders." + ns);
  }

  @Test
  void rejectsACertificateFromAnUntrustedCa() throws Exception {
    TrustBundle other = new TrustBundle(List.of(TestCa.create("other-ca").certificate()), "test/other");
    Future<TlsIdentity> result = issueInBackground(issuer().trustBundle(() -> other).build());
    CertificateSigningRequest csr = awaitCsr();
    approve(csr);
    sign(csr, leafFor(requestedKey(csr)).build());
    assertThat(failureOf(result)).isInstanceOf(CertificateFailedException.class)
        .hasMessageContaining("does not chain to the trust bundle test/other");
  }

  @Test
  void interruptionStopsTheWait() throws Exception {
    CertificateIssuer issuer = issuer().build();
    java.util.concurrent.CompletableFuture<Throwable> outcome = new java.util.concurrent.CompletableFuture<>();
    Thread waiter = new Thread(() -> {
      try {
        issuer.issue(1);
        outcome.complete(null);
      } catch (Throwable t) {
        outcome.complete(t);
      }
    }, "core-it-interrupted-issuer");
    waiter.start();
    awaitCsr();
    waiter.interrupt();
    assertThat(outcome.get(10, TimeUnit.SECONDS)).isInstanceOf(InterruptedException.class);
  }

  @Test
  void survivesAnApiServerRestartWhileWaiting() throws Exception {
    Future<TlsIdentity> result = issueInBackground(issuer().timeout(Duration.ofMinutes(2)).build());
    CertificateSigningRequest csr = awaitCsr();
    cp.stopApiServer();
    cp.startApiServer();
    approve(csr);
    X509Certificate leaf = leafFor(requestedKey(csr)).build();
    sign(csr, leaf);
    assertThat(result.get(100, TimeUnit.SECONDS).leaf()).isEqualTo(leaf);
  }

  /** Starts {@code issuer.issue(1)}, interrupts it once its CSR exists, and returns when it has ended. */
  CertificateSigningRequest startThenInterrupt(CertificateIssuer issuer) throws Exception {
    java.util.concurrent.CompletableFuture<Throwable> outcome = new java.util.concurrent.CompletableFuture<>();
    Thread waiter = new Thread(() -> {
      try {
        issuer.issue(1);
        outcome.complete(null);
      } catch (Throwable t) {
        outcome.complete(t);
      }
    }, "core-it-interrupted-resumable-issuer");
    waiter.start();
    CertificateSigningRequest csr = awaitCsr();
    waiter.interrupt();
    assertThat(outcome.get(30, TimeUnit.SECONDS)).isInstanceOf(InterruptedException.class);
    return csr;
  }

  @Test
  void timedOutAttemptsResumeTheirOneCsrUntilItIsIssued() throws Exception {
    CertificateIssuer issuer = issuer().timeout(Duration.ofSeconds(2)).build();
    assertThatThrownBy(() -> issuer.issue(1)).isInstanceOfSatisfying(IssuanceTimeoutException.class,
        e -> assertThat(e.stage()).isEqualTo(IssuanceTimeoutException.Stage.APPROVAL));
    List<CertificateSigningRequest> afterOne = csrsOfWorkload();
    assertThat(afterOne).hasSize(1);
    CertificateSigningRequest csr = afterOne.get(0);

    List<IssuanceProgress> reported = new CopyOnWriteArrayList<>();
    assertThatThrownBy(() -> issuer.issue(2, reported::add)).isInstanceOfSatisfying(IssuanceTimeoutException.class,
        e -> assertThat(e.csrName()).isEqualTo(nameOf(csr)));
    assertThat(csrsOfWorkload()).extracting(CertificateIssuerIT::nameOf).containsExactly(nameOf(csr));
    assertThat(reported).isNotEmpty().allSatisfy(p -> assertThat(p.request()).isEqualTo(nameOf(csr)));
    assertThat(reported.get(0).stage()).isEqualTo(IssuanceProgress.Stage.AWAITING_APPROVAL);
    assertThat(reported.get(0).advice()).startsWith("resumed CertificateSigningRequest " + nameOf(csr)
        + " (pending since ");
    assertThat(reported).noneMatch(p -> p.stage() == IssuanceProgress.Stage.SUBMITTING);

    // Approved while no attempt waits: the next attempt resumes it, now waiting for the signer.
    approve(csr);
    reported.clear();
    assertThatThrownBy(() -> issuer.issue(3, reported::add)).isInstanceOfSatisfying(IssuanceTimeoutException.class,
        e -> assertThat(e.stage()).isEqualTo(IssuanceTimeoutException.Stage.SIGNATURE));
    assertThat(reported).extracting(IssuanceProgress::stage).containsExactly(IssuanceProgress.Stage.AWAITING_SIGNATURE);
    assertThat(reported.get(0).advice()).startsWith("resumed CertificateSigningRequest " + nameOf(csr));
    assertThat(csrsOfWorkload()).hasSize(1);

    // Signed while no attempt waits: the next attempt resumes it and finds the certificate.
    X509Certificate leaf = leafFor(requestedKey(csr)).build();
    sign(csr, leaf);
    TlsIdentity issued = issuer.issue(4);
    assertThat(issued.leaf()).isEqualTo(leaf);
    assertThat(issued.generation()).isEqualTo(4);
    assertThat(issued.leaf().getPublicKey()).isEqualTo(requestedKey(csr));
    assertThat(csrsOfWorkload()).extracting(CertificateIssuerIT::nameOf).containsExactly(nameOf(csr));
  }

  @Test
  void aRememberedCsrDeniedMeanwhileIsReportedOnceAndTheNextAttemptMakesANewOne() throws Exception {
    CertificateIssuer issuer = issuer().timeout(Duration.ofSeconds(2)).build();
    assertThatThrownBy(() -> issuer.issue(1)).isInstanceOf(IssuanceTimeoutException.class);
    CertificateSigningRequest first = awaitCsr();
    admin.certificates().v1().certificateSigningRequests().withName(nameOf(first))
        .deny(condition("Denied", "DNSNameNotOwned", "denied while nobody waited"));

    assertThatThrownBy(() -> issuer.issue(2)).isInstanceOfSatisfying(CertificateDeniedException.class, e -> {
      assertThat(e.csrName()).isEqualTo(nameOf(first));
      assertThat(e.reason()).isEqualTo("DNSNameNotOwned");
    });
    assertThat(csrsOfWorkload()).hasSize(1);

    assertThatThrownBy(() -> issuer.issue(3)).isInstanceOf(IssuanceTimeoutException.class);
    List<CertificateSigningRequest> all = csrsOfWorkload();
    assertThat(all).hasSize(2);
    assertThat(all).extracting(CertificateIssuerIT::nameOf).contains(nameOf(first));
  }

  @Test
  void aRememberedCsrDeletedMeanwhileIsReplacedByANewOneInTheSameAttempt() throws Exception {
    CertificateIssuer issuer = issuer().build();
    CertificateSigningRequest first = startThenInterrupt(issuer); // remembered, not deleted (deleteRequests is off)
    admin.certificates().v1().certificateSigningRequests().withName(nameOf(first)).delete();
    await().atMost(Duration.ofSeconds(30)).until(() -> csrsOfWorkload().isEmpty());

    Future<TlsIdentity> result = executor.submit(() -> issuer.issue(7));
    CertificateSigningRequest second = awaitCsr();
    assertThat(nameOf(second)).isNotEqualTo(nameOf(first));
    approve(second);
    X509Certificate leaf = leafFor(requestedKey(second)).build();
    sign(second, leaf);
    TlsIdentity issued = result.get(60, TimeUnit.SECONDS);
    assertThat(issued.leaf()).isEqualTo(leaf);
    assertThat(issued.generation()).isEqualTo(7);
    assertThat(csrsOfWorkload()).hasSize(1);
  }

  @Test
  void anInterruptedWaitIsResumedByTheNextAttemptWhenNotDeleting() throws Exception {
    CertificateIssuer issuer = issuer().build();
    CertificateSigningRequest csr = startThenInterrupt(issuer);

    Future<TlsIdentity> result = executor.submit(() -> issuer.issue(2));
    approve(csr);
    X509Certificate leaf = leafFor(requestedKey(csr)).build();
    sign(csr, leaf);
    TlsIdentity issued = result.get(60, TimeUnit.SECONDS);
    assertThat(issued.leaf()).isEqualTo(leaf);
    assertThat(issued.generation()).isEqualTo(2);
    assertThat(csrsOfWorkload()).hasSize(1);
  }

  @Test
  void aRememberedCsrOlderThanTheRequestedLifetimeIsNotResumed() throws Exception {
    MutableClock clock = MutableClock.startingNow();
    CertificateIssuer issuer = issuer().clock(clock).timeout(Duration.ofMinutes(1))
        .expiration(Duration.ofMinutes(30)).build();
    Future<TlsIdentity> first = issueInBackground(issuer);
    CertificateSigningRequest stale = awaitCsr();
    clock.advance(Duration.ofMinutes(2));
    assertThat(failureOf(first)).isInstanceOf(IssuanceTimeoutException.class);

    clock.advance(Duration.ofMinutes(30));
    Future<TlsIdentity> second = executor.submit(() -> issuer.issue(2));
    await().atMost(Duration.ofSeconds(30)).until(() -> csrsOfWorkload().size() == 2);
    CertificateSigningRequest fresh = csrsOfWorkload().stream().filter(c -> !nameOf(c).equals(nameOf(stale)))
        .findFirst().orElseThrow();
    admin.certificates().v1().certificateSigningRequests().withName(nameOf(fresh))
        .deny(condition("Denied", "CoreItDenied", "ends the test"));
    assertThat(failureOf(second)).isInstanceOfSatisfying(CertificateDeniedException.class,
        e -> assertThat(e.csrName()).isEqualTo(nameOf(fresh)));
  }

  @Test
  void withoutRbacTheRequestFailsWithAHint() {
    try (KubernetesClient stranger = cp.clientFor(ns, "no-rights")) {
      WorkloadIdentity id = WorkloadIdentity.builder(ns, "no-rights").build();
      assertThatThrownBy(() -> CertificateIssuer.builder(stranger, id, SIGNER).build().issue(1))
          .isInstanceOf(MtlsException.class).hasMessageContaining("HTTP 403")
          .hasMessageContaining("needs create, get and watch");
    }
  }
}
