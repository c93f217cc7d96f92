package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The controller's merge-patch writes on a real API server: they change only what they carry, and
 * the resourceVersion they carry is a precondition (409 on a stale one), which is what keeps a
 * verdict from being overwritten and a certificate from being issued twice.
 */
class CsrWritesIT {

  private static final String SIGNER = "kube-mtls.dev/writes-test";

  private KubernetesClient admin;
  private CsrWrites writes;
  private String name;

  @BeforeEach
  void createCsr() {
    admin = ControlPlane.shared().adminClient();
    writes = new CsrWrites(admin);
    String pem = TestCsr.builder().uri("spiffe://cluster.local/ns/default/sa/writes").pem();
    CertificateSigningRequest csr = new CertificateSigningRequestBuilder().withNewMetadata()
        .withGenerateName("kube-mtls-writes-").addToLabels("team", "payments")
        .addToAnnotations("example.com/owner", "someone").endMetadata()
        .withNewSpec().withSignerName(SIGNER)
        .withRequest(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)))
        .withUsages("digital signature", "client auth").withExpirationSeconds(600).endSpec().build();
    name = admin.certificates().v1().certificateSigningRequests().resource(csr).create().getMetadata().getName();
  }

  @AfterEach
  void deleteCsr() {
    admin.certificates().v1().certificateSigningRequests().withName(name).delete();
  }

  private CertificateSigningRequest current() {
    return admin.certificates().v1().certificateSigningRequests().withName(name).get();
  }

  private static List<CertificateSigningRequestCondition> with(CertificateSigningRequest csr,
      CertificateSigningRequestCondition added) {
    List<CertificateSigningRequestCondition> out = new ArrayList<>();
    if (csr.getStatus() != null && csr.getStatus().getConditions() != null) {
      out.addAll(csr.getStatus().getConditions());
    }
    out.add(added);
    return out;
  }

  @Test
  void approvalThenCertificateChangeOnlyWhatTheyCarryAndReturnTheNewVersion() {
    CertificateSigningRequest created = current();
    String approved = writes.approval(name, created.getMetadata().getResourceVersion(),
        with(created, Csrs.condition(Csrs.APPROVED, "ByTest", "approved \"quoted\" \u00e9", Instant.now())));

    CertificateSigningRequest afterApproval = current();
    assertThat(approved).isEqualTo(afterApproval.getMetadata().getResourceVersion())
        .isNotEqualTo(created.getMetadata().getResourceVersion());
    assertThat(afterApproval.getStatus().getConditions()).singleElement().satisfies(c -> {
      assertThat(c.getType()).isEqualTo("Approved");
      assertThat(c.getReason()).isEqualTo("ByTest");
      assertThat(c.getMessage()).isEqualTo("approved \"quoted\" \u00e9");
    });
    assertThat(afterApproval.getMetadata().getLabels()).isEqualTo(Map.of("team", "payments"));
    assertThat(afterApproval.getMetadata().getAnnotations()).containsEntry("example.com/owner", "someone");
    assertThat(afterApproval.getSpec()).isEqualTo(created.getSpec());

    // The API server checks that status.certificate holds PEM certificates: a real one is needed.
    String pem = dev.kubemtls.core.pki.Pem.encodeCertificates(List.of(
        CertificateAuthority.generate("writes IT", java.time.Duration.ofDays(1),
            ValidityPolicy.DEFAULT, java.time.InstantSource.system(),
            new java.security.SecureRandom()).certificate()));
    String certificate = Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII));
    String issued = writes.certificate(name, approved, certificate);

    CertificateSigningRequest afterIssue = current();
    assertThat(issued).isEqualTo(afterIssue.getMetadata().getResourceVersion());
    assertThat(afterIssue.getStatus().getCertificate()).isEqualTo(certificate);
    assertThat(afterIssue.getStatus().getConditions()).extracting(CertificateSigningRequestCondition::getType)
        .containsExactly("Approved");
    assertThat(afterIssue.getMetadata().getLabels()).isEqualTo(Map.of("team", "payments"));
  }

  @Test
  void aStaleResourceVersionIsAConflictAndChangesNothing() {
    CertificateSigningRequest created = current();
    String stale = created.getMetadata().getResourceVersion();
    writes.approval(name, stale, with(created, Csrs.condition(Csrs.APPROVED, "First", "first", Instant.now())));

    // A second verdict from the same old copy (another replica, say) must not replace the first.
    assertThatThrownBy(() -> writes.approval(name, stale,
        with(created, Csrs.condition(Csrs.DENIED, "Second", "second", Instant.now()))))
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
          assertThat(e.getCode()).isEqualTo(409);
          assertThat(e.getMessage()).contains(name).contains("approval");
        });
    assertThatThrownBy(() -> writes.failure(name, stale,
        with(created, Csrs.condition(Csrs.FAILED, "Late", "late", Instant.now()))))
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(409));

    CertificateSigningRequest now = current();
    assertThat(now.getStatus().getConditions()).extracting(c -> c.getType() + "/" + c.getReason())
        .containsExactly("Approved/First");
  }

  @Test
  void aMissingCsrIsNotFoundAndAnEmptyVersionIsNeverSent() {
    assertThatThrownBy(() -> writes.certificate("kube-mtls-writes-absent", "1", "eA=="))
        .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(404));
    assertThatThrownBy(() -> writes.certificate(name, "", "eA=="))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("resourceVersion");
  }

  @Test
  void theApiServerAnswersAWriteWithTheMetadataOnly() throws Exception {
    // The same request CsrWrites sends, read raw: the answer is PartialObjectMetadata, without the
    // request's or the certificate's bytes, and its resourceVersion is the stored one.
    CertificateSigningRequest created = current();
    String body = CsrWrites.body(created.getMetadata().getResourceVersion(), null,
        with(created, Csrs.condition(Csrs.APPROVED, "ByTest", "approved", Instant.now())));
    var http = admin.getHttpClient();
    var request = http.newHttpRequestBuilder()
        .uri(admin.getMasterUrl().toString().replaceAll("/$", "")
            + "/apis/certificates.k8s.io/v1/certificatesigningrequests/" + name + "/approval")
        .header("Accept", CsrWrites.ANSWER).patch("application/merge-patch+json", body).build();
    var response = http.sendAsync(request, String.class).get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(response.code()).isEqualTo(200);
    assertThat(response.body()).contains("\"kind\":\"PartialObjectMetadata\"").doesNotContain("\"spec\"")
        .doesNotContain("\"request\"");
    assertThat(CsrWrites.resourceVersionOf(response.body().getBytes(StandardCharsets.UTF_8)))
        .isEqualTo(current().getMetadata().getResourceVersion());
  }

  @Test
  void resourceVersionIsReadWithoutDecodingTheObject() {
    assertThat(CsrWrites.resourceVersionOf(("{\"kind\":\"CertificateSigningRequest\",\"spec\":{\"metadata\":"
        + "{\"resourceVersion\":\"wrong\"}},\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"b\"},"
        + "\"resourceVersion\":\"42\"}}").getBytes(StandardCharsets.UTF_8))).isEqualTo("42");
    assertThat(CsrWrites.resourceVersionOf("{\"metadata\":{}}".getBytes(StandardCharsets.UTF_8))).isNull();
    assertThat(CsrWrites.resourceVersionOf("<html>".getBytes(StandardCharsets.UTF_8))).isNull();
  }
}
