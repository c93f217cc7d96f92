package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * A signer started with {@code approve(false)} ({@code --approve=false}) gives no verdict: a pending
 * request waits for another approver, an approved one is signed once the signer's own policy agrees,
 * and one the policy refuses is marked {@code Failed} although someone approved it.
 */
class SignOnlyIT {

  private static final String SIGNER = "kube-mtls.dev/sign-only-test";

  @Test
  void pendingRequestsWaitForAnotherApproverAndThePolicyStillJudges() throws Exception {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("sign-only-it");
    List<String> decided = new CopyOnWriteArrayList<>();
    Set<String> seen = ConcurrentHashMap.newKeySet();
    SignerConfig config = SignerConfig.builder(SIGNER).caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca")
        .lease(SignerFixture.SIGNER_NS, "sign-only-test", "sign-only-test")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .approve(false).build();
    assertThat(config.approve()).isFalse();
    try (Signer signer = Signer.start(fx.admin, config, fx.ca, InstantSource.system(), new SignerListener() {
      @Override
      public void seen(String csrName) {
        seen.add(csrName);
      }

      @Override
      public void decided(String csrName, ApprovalDecision decision) {
        decided.add(csrName + ": " + decision.reason());
      }
    })) {
      Awaitility.await("the sign-only signer to lead").atMost(Duration.ofSeconds(60))
          .pollInterval(Duration.ofMillis(50)).until(signer::isLeader);
      String waiting = createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
      String approved = createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
      // A name the ServiceAccount does not own: approval by an administrator does not get it signed.
      String foreign = createCsr(web.client(), SIGNER,
          TestCsr.builder().uri(web.spiffeId()).dns("db.elsewhere.svc").pem(), SERVER_CLIENT);
      Awaitility.await("the signer to see the pending request").atMost(Duration.ofSeconds(30))
          .pollInterval(Duration.ofMillis(20)).until(() -> seen.contains(waiting));
      approve(fx, approved);
      approve(fx, foreign);

      CertificateSigningRequest issued = fx.awaitFinal(approved);
      assertThat(issued.getStatus().getConditions()).extracting(c -> c.getType() + "/" + c.getReason())
          .containsExactly("Approved/ApprovedByAdmin");
      assertThat(SignerFixture.certificateOf(issued).getSubjectAlternativeNames())
          .containsExactly(List.of(6, web.spiffeId()));

      CertificateSigningRequest failed = fx.awaitFinal(foreign);
      assertThat(failed.getStatus().getCertificate()).isNullOrEmpty();
      assertThat(failed.getStatus().getConditions()).extracting(c -> c.getType() + "/" + c.getReason())
          .containsExactly("Approved/ApprovedByAdmin", "Failed/" + ApprovalDecision.UNAUTHORIZED_DNS_NAME);

      // The first request was seen before the others and is still as its requester left it.
      CertificateSigningRequest pending = fx.admin.certificates().v1().certificateSigningRequests()
          .withName(waiting).get();
      assertThat(pending.getStatus() == null ? List.of() : pending.getStatus().getConditions()).isEmpty();
      assertThat(pending.getStatus() == null ? null : pending.getStatus().getCertificate()).isNullOrEmpty();

      // Approved at last, by someone else, it is signed, with that approval as its only verdict.
      approve(fx, waiting);
      CertificateSigningRequest late = fx.awaitFinal(waiting);
      assertThat(late.getStatus().getCertificate()).isNotEmpty();
      assertThat(late.getStatus().getConditions()).extracting(c -> c.getType() + "/" + c.getReason())
          .containsExactly("Approved/ApprovedByAdmin");
      assertThat(decided).as("verdicts given by the sign-only signer").isEmpty();
    }
  }

  private static void approve(SignerFixture fx, String name) {
    fx.admin.certificates().v1().certificateSigningRequests().withName(name).approve(
        new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
            .withReason("ApprovedByAdmin").withMessage("approved in the test").build());
  }
}
