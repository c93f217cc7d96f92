package dev.kubemtls.core;

import java.time.Duration;
import java.util.Objects;

/**
 * A CertificateSigningRequest was not issued within the configured time. The message says what it
 * was still waiting for: {@link Stage#APPROVAL} (no approver acted: is the kube-mtls signer running
 * and does it handle this signerName?) or {@link Stage#SIGNATURE} (approved, but no signer issued
 * the certificate).
 */
public class IssuanceTimeoutException extends MtlsException {
  private static final long serialVersionUID = 1L;

  /** What the request was still waiting for when time ran out. */
  public enum Stage { APPROVAL, SIGNATURE }

  private final String csrName;
  private final Stage stage;

  public IssuanceTimeoutException(String csrName, String signerName, Stage stage, Duration waited) {
    super("CertificateSigningRequest " + csrName + " for signer " + signerName + " was not issued within "
        + waited + ": still waiting for " + (stage == Stage.APPROVAL
            ? "approval (is the approver for " + signerName + " running? 'kubectl describe csr " + csrName + "')"
            : "the signature (approved, but the signer for " + signerName + " has not issued it)"));
    this.csrName = Objects.requireNonNull(csrName, "csrName");
    this.stage = Objects.requireNonNull(stage, "stage");
  }

  public String csrName() {
    return csrName;
  }

  public Stage stage() {
    return stage;
  }
}
