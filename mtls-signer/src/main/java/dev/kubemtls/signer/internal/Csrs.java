package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.List;

/** Small readers of CertificateSigningRequest state. */
final class Csrs {

  public static final String APPROVED = "Approved";
  public static final String DENIED = "Denied";
  public static final String FAILED = "Failed";

  private Csrs() {}

  public static boolean hasCondition(CertificateSigningRequest csr, String type) {
    if (csr.getStatus() == null || csr.getStatus().getConditions() == null) {
      return false;
    }
    return csr.getStatus().getConditions().stream()
        .anyMatch(c -> type.equals(c.getType()) && !"False".equals(c.getStatus()));
  }

  public static boolean issued(CertificateSigningRequest csr) {
    return csr.getStatus() != null && csr.getStatus().getCertificate() != null
        && !csr.getStatus().getCertificate().isEmpty();
  }

  public static String signerName(CertificateSigningRequest csr) {
    return csr.getSpec() == null ? null : csr.getSpec().getSignerName();
  }

  /** The PEM text of {@code spec.request} (the API carries it base64-encoded). */
  public static String requestPem(CertificateSigningRequest csr) {
    String b64 = csr.getSpec() == null ? null : csr.getSpec().getRequest();
    if (b64 == null) {
      return "";
    }
    try {
      return new String(Base64.getDecoder().decode(b64), StandardCharsets.US_ASCII);
    } catch (IllegalArgumentException e) {
      return "";
    }
  }

  public static List<String> usages(CertificateSigningRequest csr) {
    return csr.getSpec() == null || csr.getSpec().getUsages() == null ? List.of() : csr.getSpec().getUsages();
  }

  /** A condition with status True, both timestamps at {@code now}; the message is clipped ({@link Bounded#message}). */
  public static CertificateSigningRequestCondition condition(String type, String reason, String message,
      Instant now) {
    String time = now.truncatedTo(ChronoUnit.SECONDS).toString();
    return new CertificateSigningRequestConditionBuilder().withType(type).withStatus("True").withReason(reason)
        .withMessage(Bounded.message(message)).withLastUpdateTime(time).withLastTransitionTime(time).build();
  }
}
