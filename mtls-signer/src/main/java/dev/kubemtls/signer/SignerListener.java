package dev.kubemtls.signer;

import java.security.cert.X509Certificate;

/**
 * Receives the signer's state changes, for metrics, events or tests. Every method has a no-op
 * default; {@link #NONE} ignores everything. Methods are called from worker threads, after the
 * change was written to the API server, and must return quickly.
 */
public interface SignerListener {

  /** The listener that does nothing. */
  SignerListener NONE = new SignerListener() { };

  /** A CSR was approved or denied. */
  default void decided(String csrName, ApprovalDecision decision) {
  }

  /** A certificate was written to {@code status.certificate} of {@code csrName}. */
  default void issued(String csrName, X509Certificate certificate) {
  }

  /** {@code csrName} was marked {@code Failed} with {@code reason}. */
  default void failed(String csrName, String reason) {
  }

  /** A write lost a race (409 Conflict) and the CSR is looked at again. */
  default void conflict(String csrName) {
  }

  /**
   * The CA rotation moved: a new CA joined the bundle ({@link CaRotation.Change#STARTED}), began
   * signing ({@link CaRotation.Change#SWITCHED}) or a former CA left the bundle
   * ({@link CaRotation.Change#RETIRED}). {@code state} is the plan after the change.
   */
  default void caRotation(CaRotation.Change change, CaRotation state) {
  }

  /** The CA Secret holds material that cannot be used; the signer keeps its current CAs. */
  default void caRejected(String problem) {
  }
}
