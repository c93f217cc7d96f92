package dev.kubemtls.core.rotation;

import java.time.Instant;
import java.util.Objects;

/**
 * Where one issuance in flight stands: which request, at what stage, since when, and what to check
 * if it stays there. An {@link IdentityIssuer} reports a new value at each change of stage; the
 * {@link CertificateManager} keeps the latest one while the attempt runs, shows it in
 * {@link CertificateManager.Status#inProgress()} and names it when {@link CertificateManager#awaitReady}
 * gives up, so a timeout tells what is being waited for now rather than what failed before.
 *
 * <p>The value knows nothing of the issuer's mechanism: {@code request} is whatever names the
 * request to an operator (for Kubernetes, the CertificateSigningRequest's name) and {@code advice}
 * is the issuer's own hint in its own terms.
 *
 * @param request the request's name, empty while it is being submitted
 * @param stage   what the request waits for
 * @param since   when it entered this stage, by the issuer's clock
 * @param advice  what to check if it stays in this stage; may be empty
 */
public record IssuanceProgress(String request, Stage stage, Instant since, String advice) {

  /** What a request in flight waits for. */
  public enum Stage {
    /** The request is being created. */
    SUBMITTING("submitting the request"),
    /** Submitted; no approver (and no signer) has acted on it yet. */
    AWAITING_APPROVAL("waiting for approval, no approver or signer has acted on it yet"),
    /** Approved; the signer has not issued the certificate yet. */
    AWAITING_SIGNATURE("approved, waiting for the signer");

    private final String text;

    Stage(String text) {
      this.text = text;
    }

    /** The stage in words, as used in messages. */
    public String text() {
      return text;
    }
  }

  /** Checks the fields. */
  public IssuanceProgress {
    Objects.requireNonNull(request, "request");
    Objects.requireNonNull(stage, "stage");
    Objects.requireNonNull(since, "since");
    Objects.requireNonNull(advice, "advice");
  }

  /** One line for logs and exception messages, e.g. {@code request csr-1: approved, waiting for the signer since ...}. */
  public String describe() {
    return (request.isEmpty() ? "a new request" : "request " + request) + ": " + stage.text() + " since " + since
        + (advice.isEmpty() ? "" : " (" + advice + ")");
  }
}
