package dev.kubemtls.signer.internal;

import dev.kubemtls.core.MtlsException;
import java.util.Objects;

/**
 * The signer cannot issue a certificate for an approved request, and trying again will not help:
 * the request is malformed, asks for something the CA does not issue, or the CA itself is no longer
 * usable. The signer controller turns this into a {@code Failed} condition on the
 * CertificateSigningRequest with {@link #reason()} as its machine-readable reason and the message as
 * its human-readable message.
 */
public class SigningException extends MtlsException {
  private static final long serialVersionUID = 1L;

  private final String reason;

  /**
   * @param reason  a CamelCase reason for the {@code Failed} condition, e.g. {@code MalformedRequest}
   * @param message what was wrong, in words an operator can act on
   */
  public SigningException(String reason, String message) {
    super(message);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  /** Same as {@link #SigningException(String, String)}, keeping the cause. */
  public SigningException(String reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  /** The machine-readable reason, CamelCase, for the {@code Failed} condition. */
  public String reason() {
    return reason;
  }
}
