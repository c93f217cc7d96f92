package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.SIGNER_NAME;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Approval and signing against a real kube-apiserver, with the signer acting under the RBAC of deploy/. */
class SignerIT {

  private static SignerFixture fx;
  private static SignerFixture.Workload web;

  @BeforeAll
  static void setUp() {
    fx = SignerFixture.get();
    web = fx.workload("signer-it");
  }

  @Test
  void workloadGetsAServerAndClientCertificateThatValidatesAgainstThePublishedBundle() throws Exception {
    String ns = web.namespace();
    String pem = TestCsr.builder().subject("CN=web." + ns + ".svc").uri(web.spiffeId())
        .dns("web." + ns, "web." + ns + ".svc", "web." + ns + ".svc.cluster.local").ip(web.podIp()).pem();
    String name = createCsr(web.client(), SIGNER_NAME, pem, SERVER_CLIENT);

    CertificateSigningRequest done = fx.awaitFinal(name);
    assertThat(done.getStatus().getConditions()).anySatisfy(c -> {
      assertThat(c.getType()).isEqualTo("Approved");
      assertThat(c.getReason()).isEqualTo(ApprovalDecision.APPROVED);
      assertThat(c.getLastUpdateTime()).isNotBlank();
    });
    X509Certificate cert = SignerFixture.certificateOf(done);
    assertThat(cert.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    assertThat(cert.getSubjectAlternativeNames()).contains(List.of(6, web.spiffeId()), List.of(7, web.podIp()),
        List.of(2, "web." + ns + ".svc.cluster.local"));

    // The workload reads the bundle with its own, least-privileged identity.
    String bundle = org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30))
        .until(() -> web.client().configMaps().inNamespace(ns).withName(SignerFixture.BUNDLE).get(), c -> c != null)
        .getData().get("ca.crt");
    SignerFixture.validate(cert, bundle);
  }

  @Test
  void everyDenialClassIsDeniedWithItsReason() {
    String ns = web.namespace();
    String spiffe = web.spiffeId();
    Map<String, String> expected = new java.util.LinkedHashMap<>();
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().dns("web.other-ns.svc").pem(), SERVER_CLIENT),
        ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().dns("*." + ns + ".svc").pem(), SERVER_CLIENT),
        ApprovalDecision.WILDCARD_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe).ca().pem(), SERVER_CLIENT),
        ApprovalDecision.CA_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe).email("a@example.com").pem(),
        SERVER_CLIENT), ApprovalDecision.EMAIL_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe).pem(),
        List.of("digital signature", "cert sign")), ApprovalDecision.UNEXPECTED_USAGE);
    expected.put(createCsr(web.client(), SIGNER_NAME,
        TestCsr.builder().uri("spiffe://cluster.local/ns/" + ns + "/sa/admin").pem(), SERVER_CLIENT),
        ApprovalDecision.SPIFFE_ID_MISMATCH);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().ip("10.200.0.1").pem(), SERVER_CLIENT),
        ApprovalDecision.UNAUTHORIZED_IP_ADDRESS);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().subject("CN=x,O=system:masters").uri(spiffe)
        .pem(), SERVER_CLIENT), ApprovalDecision.SUBJECT_NOT_ALLOWED);
    // A user, not a ServiceAccount: the admin client of the control plane.
    expected.put(createCsr(fx.admin, SIGNER_NAME, TestCsr.builder().uri(spiffe).pem(), SERVER_CLIENT),
        ApprovalDecision.NOT_SERVICE_ACCOUNT);
    // A token bound to no Pod asking for a Service name.
    fx.bindWorkload(ns, "batch");
    try (KubernetesClient unbound = fx.cp.clientFor(ns, "batch")) {
      expected.put(createCsr(unbound, SIGNER_NAME, TestCsr.builder().dns("web." + ns + ".svc").pem(), SERVER_CLIENT),
          ApprovalDecision.POD_BINDING_REQUIRED);
    }

    expected.forEach((name, reason) -> {
      CertificateSigningRequest done = fx.awaitFinal(name);
      assertThat(done.getStatus().getConditions()).as(name + " expected " + reason).singleElement().satisfies(c -> {
        assertThat(c.getType()).isEqualTo("Denied");
        assertThat(c.getReason()).isEqualTo(reason);
        assertThat(c.getMessage()).isNotBlank();
      });
      assertThat(done.getStatus().getCertificate()).isNullOrEmpty();
    });
  }

  @Test
  void weakKeysWeakSignaturesAndAbusiveNameListsAreDeniedWithTheirReason() {
    // Each of these got a certificate before the approver checked the request's make-up.
    String ns = web.namespace();
    String spiffe = web.spiffeId();
    String service = "web." + ns + ".svc";
    Map<String, String> expected = new java.util.LinkedHashMap<>();
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().key(TestCsr.rsaKey(1024)).uri(spiffe).pem(),
        SERVER_CLIENT), ApprovalDecision.KEY_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().key(TestCsr.ecKey("secp521r1"))
        .signatureAlgorithm("SHA512withECDSA").uri(spiffe).pem(), SERVER_CLIENT), ApprovalDecision.KEY_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().key(TestCsr.ed25519Key()).uri(spiffe).pem(),
        SERVER_CLIENT), ApprovalDecision.KEY_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().key(TestCsr.rsaKey())
        .signatureAlgorithm("SHA1withRSA").uri(spiffe).pem(), SERVER_CLIENT),
        ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe).dns(service, service).pem(),
        SERVER_CLIENT), ApprovalDecision.DUPLICATE_NAME);
    String tooMany = createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe)
        .dns(java.util.Collections.nCopies(3_000, service).toArray(String[]::new)).pem(), SERVER_CLIENT);
    expected.put(tooMany, ApprovalDecision.TOO_MANY_NAMES);
    expected.put(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(spiffe).mappedIp(web.podIp()).pem(),
        SERVER_CLIENT), ApprovalDecision.MAPPED_IP_ADDRESS);

    expected.forEach((name, reason) -> {
      CertificateSigningRequest done = fx.awaitFinal(name);
      assertThat(done.getStatus().getConditions()).as(name + " expected " + reason).singleElement().satisfies(c -> {
        assertThat(c.getType()).isEqualTo("Denied");
        assertThat(c.getReason()).isEqualTo(reason);
        assertThat(c.getMessage()).isNotBlank().hasSizeLessThan(400);
      });
      assertThat(done.getStatus().getCertificate()).isNullOrEmpty();
    });
  }

  @Test
  void theApiServerRefusesMalformedRequestsAndMissingProofOfPossessionBeforeTheApprover() {
    // These classes never reach the approver on a real cluster (it checks them again anyway; see
    // ApprovalPolicyTest): the API server validates spec.request on create.
    String forged = TestCsr.builder().uri(web.spiffeId()).signedBy(TestCsr.ecKey()).pem();
    assertThatThrownBy(() -> createCsr(web.client(), SIGNER_NAME, forged, SERVER_CLIENT))
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(422));
    String garbage = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n";
    assertThatThrownBy(() -> createCsr(web.client(), SIGNER_NAME, garbage, SERVER_CLIENT))
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(422));
  }

  @Test
  void aWorkloadCannotApproveOrIssueItsOwnRequest() {
    String name = createCsr(web.client(), SIGNER_NAME,
        TestCsr.builder().dns("admin.kube-system.svc").pem(), SERVER_CLIENT);
    CertificateSigningRequestCondition approved = new CertificateSigningRequestConditionBuilder().withType("Approved")
        .withStatus("True").withReason("SelfApproved").withMessage("mine").build();
    assertThatThrownBy(() -> web.client().certificates().v1().certificateSigningRequests().withName(name)
        .approve(approved)).isInstanceOfSatisfying(KubernetesClientException.class,
        e -> assertThat(e.getCode()).isEqualTo(403));
    CertificateSigningRequest mine = web.client().certificates().v1().certificateSigningRequests().withName(name).get();
    mine.getStatus().setCertificate(SignerFixture.b64("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"));
    assertThatThrownBy(() -> web.client().certificates().v1().certificateSigningRequests().resource(mine)
        .updateStatus()).isInstanceOfSatisfying(KubernetesClientException.class,
        e -> assertThat(e.getCode()).isEqualTo(403));
    assertThat(fx.awaitFinal(name).getStatus().getConditions()).singleElement()
        .satisfies(c -> assertThat(c.getReason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME));
  }

  @Test
  void aRequestForAnotherSignerIsLeftAlone() {
    String other = createCsr(web.client(), "example.com/other", TestCsr.builder().uri(web.spiffeId()).pem(),
        SERVER_CLIENT);
    String ours = createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
    assertThat(fx.awaitFinal(ours).getStatus().getCertificate()).isNotEmpty();
    CertificateSigningRequest untouched = fx.admin.certificates().v1().certificateSigningRequests().withName(other).get();
    assertThat(untouched.getStatus() == null || untouched.getStatus().getConditions() == null
        || untouched.getStatus().getConditions().isEmpty()).isTrue();
    assertThat(untouched.getStatus() == null ? null : untouched.getStatus().getCertificate()).isNullOrEmpty();
  }

  @Test
  void aCertificateIsIssuedOnceAndCannotBeReplaced() {
    String name = createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
    CertificateSigningRequest done = fx.awaitFinal(name);
    X509Certificate first = SignerFixture.certificateOf(done);
    // The listener hears of the certificate after the write returned, so possibly after the CSR shows it.
    org.awaitility.Awaitility.await("the issued() event of " + name).atMost(java.time.Duration.ofSeconds(10))
        .until(() -> fx.issued.get(name) != null);
    assertThat(fx.issued.get(name)).containsExactly(first);
    // Even the admin cannot replace an issued certificate: the field is immutable once set.
    X509Certificate other = fx.ca.sign(TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT, 600);
    done.getStatus().setCertificate(SignerFixture.b64(dev.kubemtls.core.pki.Pem.encodeCertificates(List.of(other))));
    assertThatThrownBy(() -> fx.admin.certificates().v1().certificateSigningRequests().resource(done).updateStatus())
        .isInstanceOf(KubernetesClientException.class);
    // A status write carries the resourceVersion it was based on: a stale copy is refused with 409,
    // which is what keeps two racing replicas from both writing.
    CertificateSigningRequest stale = fx.admin.certificates().v1().certificateSigningRequests().withName(name).get();
    stale.getMetadata().setResourceVersion(String.valueOf(Long.parseLong(stale.getMetadata().getResourceVersion()) - 1));
    stale.getStatus().getConditions().get(0).setMessage("rewritten");
    assertThatThrownBy(() -> fx.admin.certificates().v1().certificateSigningRequests().resource(stale).updateStatus())
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(409));
  }
}
