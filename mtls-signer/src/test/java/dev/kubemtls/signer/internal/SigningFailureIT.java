package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import java.time.Duration;
import java.time.InstantSource;
import org.junit.jupiter.api.Test;

/**
 * Requests that someone else approved: the signer signs what approval allows, and marks
 * {@code Failed} what it must never sign. The requests exist and are approved before the replica for
 * their signer name starts, so its approver never sees them unapproved.
 */
class SigningFailureIT {

  private static final String SIGNER = "kube-mtls.dev/failure-test";

  @Test
  void approvedElsewhereIsSignedButACaRequestFails() {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("failure-it");
    String ca = createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).ca().pem(), SERVER_CLIENT);
    String plain = createCsr(web.client(), SIGNER, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
    for (String name : new String[] {ca, plain}) {
      fx.admin.certificates().v1().certificateSigningRequests().withName(name).approve(
          new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
              .withReason("ApprovedByAdmin").withMessage("approved in the test").build());
    }

    SignerConfig config = SignerConfig.builder(SIGNER).caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca")
        .lease(SignerFixture.SIGNER_NS, "failure-test", "failure-test")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
    try (Signer signer = Signer.start(fx.admin, config, fx.ca, InstantSource.system())) {
      CertificateSigningRequest failed = fx.awaitFinal(ca);
      assertThat(failed.getStatus().getCertificate()).isNullOrEmpty();
      assertThat(failed.getStatus().getConditions()).extracting(c -> c.getType() + "/" + c.getReason())
          .containsExactly("Approved/ApprovedByAdmin", "Failed/CaNotAllowed");

      CertificateSigningRequest issued = fx.awaitFinal(plain);
      assertThat(issued.getStatus().getCertificate()).isNotEmpty();
      assertThat(SignerFixture.certificateOf(issued).getBasicConstraints()).isEqualTo(-1);
    }
  }
}
