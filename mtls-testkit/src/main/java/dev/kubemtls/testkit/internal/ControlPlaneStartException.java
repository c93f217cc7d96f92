package dev.kubemtls.testkit.internal;

/** The test control plane could not start; the message says which part failed and how to fix it. */
public final class ControlPlaneStartException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public ControlPlaneStartException(String message) {
    super(message);
  }

  public ControlPlaneStartException(String message, Throwable cause) {
    super(message, cause);
  }
}
