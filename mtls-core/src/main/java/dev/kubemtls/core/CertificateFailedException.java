package dev.kubemtls.core;

import java.util.Objects;

/**
 * A CertificateSigningRequest could not be turned into a usable certificate: the signer set the
 * {@code Failed} condition, the CSR was deleted or replaced while we waited, or the certificate it
 * carried failed validation. {@link #reason()} says which, in a word a program can switch on.
 */
public class CertificateFailedException extends MtlsException {
  private static final long serialVersionUID = 1L;

  private final String csrName;
  private final String reason;

  public CertificateFailedException(String csrName, String reason, String message) {
    super("CertificateSigningRequest " + csrName + " failed: " + reason + ": " + message);
    this.csrName = Objects.requireNonNull(csrName, "csrName");
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  public CertificateFailedException(String csrName, String reason, String message, Throwable cause) {
    this(csrName, reason, message);
    initCause(cause);
  }

  public String csrName() {
    return csrName;
  }

  /** E.g. the signer's Failed reason, {@code Deleted}, {@code Replaced} or {@code InvalidCertificate}. */
  public String reason() {
    return reason;
  }
}
