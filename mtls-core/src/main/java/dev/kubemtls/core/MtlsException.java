package dev.kubemtls.core;

/**
 * The root of the exceptions a caller of kube-mtls can act on: a certificate that was denied or
 * failed, a wait that timed out, material that failed validation. Programming errors are reported
 * with {@link NullPointerException}, {@link IllegalArgumentException} and
 * {@link IllegalStateException} instead.
 */
public class MtlsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public MtlsException(String message) {
    super(message);
  }

  public MtlsException(String message, Throwable cause) {
    super(message, cause);
  }
}
