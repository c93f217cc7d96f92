package dev.kubemtls.core;

import java.util.Objects;

/**
 * The approver denied a CertificateSigningRequest. {@link #reason()} is the approver's
 * machine-readable reason (for kube-mtls' own approver, e.g. {@code DNSNameNotOwned}) and the
 * message carries its human explanation. Retrying the same request is pointless until whatever the
 * approver objected to has changed.
 */
public class CertificateDeniedException extends MtlsException {
  private static final long serialVersionUID = 1L;

  private final String csrName;
  private final String reason;
  private final String approverMessage;

  public CertificateDeniedException(String csrName, String reason, String approverMessage) {
    super("CertificateSigningRequest " + csrName + " was denied: " + reason
        + (approverMessage == null || approverMessage.isBlank() ? "" : ": " + approverMessage));
    this.csrName = Objects.requireNonNull(csrName, "csrName");
    this.reason = reason == null ? "" : reason;
    this.approverMessage = approverMessage == null ? "" : approverMessage;
  }

  public String csrName() {
    return csrName;
  }

  /** The Denied condition's reason, possibly empty if the approver gave none. */
  public String reason() {
    return reason;
  }

  /** The Denied condition's message, possibly empty. */
  public String approverMessage() {
    return approverMessage;
  }
}
