package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.SIGNER_NAME;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * Events on denied and failed CSRs, read back through the API and with kubectl: the shared signer
 * acts under the RBAC of {@code deploy/signer-rbac.yaml}.
 */
class CsrEventsIT {

  @Test
  void aDeniedCsrHasAWarningEventWithTheApproversReasonThatKubectlDescribeShows() throws Exception {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("events-it");
    String name = createCsr(web.client(), SIGNER_NAME, TestCsr.builder().dns("*." + web.namespace() + ".svc").pem(),
        SERVER_CLIENT);
    CertificateSigningRequest denied = fx.awaitFinal(name);
    CertificateSigningRequestCondition condition = denied.getStatus().getConditions().stream()
        .filter(c -> c.getType().equals("Denied")).findFirst().orElseThrow();
    assertThat(condition.getReason()).isEqualTo(ApprovalDecision.WILDCARD_NOT_ALLOWED);

    Event event = awaitOneEvent(fx, name);
    assertThat(event.getType()).isEqualTo("Warning");
    assertThat(event.getReason()).isEqualTo(ApprovalDecision.WILDCARD_NOT_ALLOWED);
    assertThat(event.getMessage()).isEqualTo("Denied: " + condition.getMessage());
    assertThat(event.getInvolvedObject().getKind()).isEqualTo("CertificateSigningRequest");
    assertThat(event.getInvolvedObject().getApiVersion()).isEqualTo("certificates.k8s.io/v1");
    assertThat(event.getInvolvedObject().getUid()).isEqualTo(denied.getMetadata().getUid());
    assertThat(event.getSource().getComponent()).isEqualTo("kube-mtls-signer");
    assertThat(event.getCount()).isEqualTo(1);

    // Where an operator looks: kubectl describe csr lists it under Events, kubectl get events shows it.
    String describe = Kubectl.run(fx.cp, "describe", "csr", name);
    assertThat(describe).contains("Events:").contains("WildcardNotAllowed").contains("kube-mtls-signer");
    assertThat(Kubectl.run(fx.cp, "get", "events", "-n", "default", "--field-selector", "involvedObject.name=" + name))
        .contains("WildcardNotAllowed").contains("certificatesigningrequest/" + name);
  }

  @Test
  void aFailedCsrHasAWarningEventWithTheSignersReason() {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("events-fail-it");
    String signerName = "kube-mtls.dev/events-failure-test";
    String name = createCsr(web.client(), signerName, TestCsr.builder().uri(web.spiffeId()).ca().pem(), SERVER_CLIENT);
    fx.admin.certificates().v1().certificateSigningRequests().withName(name).approve(
        new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
            .withReason("ApprovedByAdmin").withMessage("approved in the test").build());
    SignerConfig config = SignerConfig.builder(signerName).caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca")
        .lease(SignerFixture.SIGNER_NS, "events-failure-test", "events-failure-test")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
    try (Signer signer = Signer.start(fx.admin, config, fx.ca, InstantSource.system())) {
      CertificateSigningRequest failed = fx.awaitFinal(name);
      assertThat(failed.getStatus().getConditions()).extracting(CertificateSigningRequestCondition::getType)
          .contains("Failed");
      Event event = awaitOneEvent(fx, name);
      assertThat(event.getType()).isEqualTo("Warning");
      assertThat(event.getReason()).isEqualTo("CaNotAllowed");
      assertThat(event.getMessage()).startsWith("Failed: ");
      assertThat(event.getInvolvedObject().getUid()).isEqualTo(failed.getMetadata().getUid());
    }
  }

  @Test
  void controlCharactersFromARequestReachNeitherTheConditionNorTheEventNorKubectlRaw() throws Exception {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("events-escape-it");
    // A forged log line and a terminal escape (clear screen) in the subject's common name.
    String cn = "x\n2026-01-01 INFO issued CSR evil\u001b[2J";
    String name = createCsr(web.client(), SIGNER_NAME, TestCsr.builder().subject("CN=" + cn).uri(web.spiffeId())
        .pem(), SERVER_CLIENT);
    CertificateSigningRequest denied = fx.awaitFinal(name);
    CertificateSigningRequestCondition condition = denied.getStatus().getConditions().stream()
        .filter(c -> c.getType().equals("Denied")).findFirst().orElseThrow();
    assertThat(condition.getReason()).isEqualTo(ApprovalDecision.SUBJECT_NOT_ALLOWED);
    assertThat(condition.getMessage()).contains("x\\n2026-01-01 INFO issued CSR evil\\u001b[2J")
        .doesNotContain("\n").doesNotContain("\u001b");
    Event event = awaitOneEvent(fx, name);
    assertThat(event.getMessage()).doesNotContain("\n").doesNotContain("\u001b");
    // kubectl prints the request's own subject as it is (the request cannot be changed by anyone);
    // what the signer wrote, the Events section, carries no raw control character.
    String describe = Kubectl.run(fx.cp, "describe", "csr", name);
    String events = describe.substring(describe.indexOf("Events:"));
    assertThat(events).contains("SubjectNotAllowed").doesNotContain("\u001b").doesNotContain("\n2026-01-01 INFO");
  }

  private static Event awaitOneEvent(SignerFixture fx, String csrName) {
    List<Event> events = Awaitility.await("an Event on CSR " + csrName).atMost(Duration.ofSeconds(20))
        .pollInterval(Duration.ofMillis(100))
        .until(() -> fx.admin.v1().events().inNamespace("default")
            .withField("involvedObject.name", csrName).list().getItems(), l -> !l.isEmpty());
    // One verdict, one Event: give a duplicate time to show up, then check there is none.
    Awaitility.await().pollDelay(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() -> true);
    assertThat(fx.admin.v1().events().inNamespace("default").withField("involvedObject.name", csrName).list()
        .getItems()).hasSize(1);
    return events.get(0);
  }


}
