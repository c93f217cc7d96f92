package dev.kubemtls.core;

/**
 * Certificates, keys, CSRs or bundles from outside the process failed validation: unparseable PEM,
 * a certificate that does not match its key, a trust bundle with a certificate that is not a CA.
 * The message names what was wrong and, where there is one, what to do about it. Material that
 * raised this exception is never handed to a TLS stack.
 */
public class InvalidMaterialException extends MtlsException {
  private static final long serialVersionUID = 1L;

  public InvalidMaterialException(String message) {
    super(message);
  }

  public InvalidMaterialException(String message, Throwable cause) {
    super(message, cause);
  }
}
