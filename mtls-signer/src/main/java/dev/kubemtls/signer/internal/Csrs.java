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

  /**
   * An RFC 3339 timestamp of the API server. Its usual form, {@code yyyy-MM-ddTHH:mm:ssZ}, is read
   * directly (a per-CSR cost otherwise: {@link Instant#parse} goes through a general formatter);
   * anything else goes to {@link Instant#parse}.
   *
   * @throws java.time.format.DateTimeParseException if it is not a timestamp
   */
  static Instant timestamp(String text) {
    if (text.length() == 20 && text.charAt(4) == '-' && text.charAt(7) == '-' && text.charAt(10) == 'T'
        && text.charAt(13) == ':' && text.charAt(16) == ':' && text.charAt(19) == 'Z') {
      int year = digits(text, 0, 4);
      int month = digits(text, 5, 7);
      int day = digits(text, 8, 10);
      int hour = digits(text, 11, 13);
      int minute = digits(text, 14, 16);
      int second = digits(text, 17, 19);
      if (year >= 0 && month >= 1 && month <= 12 && day >= 1 && hour >= 0 && hour <= 23 && minute >= 0
          && minute <= 59 && second >= 0 && second <= 59 && day <= java.time.YearMonth.of(year, month).lengthOfMonth()) {
        long days = java.time.LocalDate.of(year, month, day).toEpochDay();
        return Instant.ofEpochSecond(days * 86_400L + hour * 3_600L + minute * 60L + second);
      }
    }
    return Instant.parse(text);
  }

  /** The decimal number in {@code text[from, to)}, or -1 if a character is not a digit. */
  private static int digits(String text, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      n = n * 10 + (c - '0');
    }
    return n;
  }

  /** A condition with status True, both timestamps at {@code now}; the message is clipped ({@link Bounded#message}). */
  public static CertificateSigningRequestCondition condition(String type, String reason, String message,
      Instant now) {
    String time = now.truncatedTo(ChronoUnit.SECONDS).toString();
    return new CertificateSigningRequestConditionBuilder().withType(type).withStatus("True").withReason(reason)
        .withMessage(Bounded.message(message)).withLastUpdateTime(time).withLastTransitionTime(time).build();
  }
}
