package dev.kubemtls.signer.internal;

import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Receives the signer's state changes, for metrics, events or tests. Every method has a no-op
 * default; {@link #NONE} ignores everything. Methods are called from worker threads, after the
 * change was written to the API server, and must return quickly.
 */
public interface SignerListener {

  /** The listener that does nothing. */
  SignerListener NONE = new SignerListener() { };

  /**
   * The informer brought a CSR of this signer name that the leader had not seen since it started
   * leading (a new CSR, or one that existed when it took over).
   */
  default void seen(String csrName) {
  }

  /** A CSR was approved or denied. */
  default void decided(String csrName, ApprovalDecision decision) {
  }

  /** A certificate was written to {@code status.certificate} of {@code csrName}. */
  default void issued(String csrName, X509Certificate certificate) {
  }

  /**
   * As {@link #issued(String, X509Certificate)}, with the time from the CSR's
   * {@code metadata.creationTimestamp} to the write (second precision, as the API server records
   * it; never negative). The signer calls this one; the default calls the two-argument method.
   */
  default void issued(String csrName, X509Certificate certificate, Duration sinceCreation) {
    issued(csrName, certificate);
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

  /**
   * A PodCertificateRequest ({@code namespace/name}) was marked {@code Issued} with
   * {@code certificate} (the leaf), {@code sinceCreation} after its creationTimestamp.
   */
  default void podCertificateIssued(String request, X509Certificate certificate, Duration sinceCreation) {
  }

  /** A PodCertificateRequest ({@code namespace/name}) was marked {@code Denied} with {@code reason}. */
  default void podCertificateDenied(String request, String reason) {
  }

  /** A PodCertificateRequest ({@code namespace/name}) was marked {@code Failed} with {@code reason}. */
  default void podCertificateFailed(String request, String reason) {
  }

  /**
   * A trust bundle ConfigMap ({@code namespace/name}) held something this signer did not publish
   * and was put back: {@code reason} is {@link TrustBundlePublisher#FOREIGN_BUNDLE} (its bundle or
   * signature was changed by someone else) or {@link TrustBundlePublisher#IMMUTABLE_BUNDLE} (it was
   * made immutable, so it was deleted and created again).
   */
  default void trustBundleRepaired(String configMap, String reason) {
  }

  /** A listener that tells each of {@code listeners}, in order, of everything. */
  static SignerListener all(SignerListener... listeners) {
    List<SignerListener> each = List.of(listeners);
    each.forEach(l -> Objects.requireNonNull(l, "listener"));
    return new SignerListener() {
      @Override
      public void seen(String csrName) {
        each.forEach(l -> l.seen(csrName));
      }

      @Override
      public void decided(String csrName, ApprovalDecision decision) {
        each.forEach(l -> l.decided(csrName, decision));
      }

      @Override
      public void issued(String csrName, X509Certificate certificate) {
        each.forEach(l -> l.issued(csrName, certificate));
      }

      @Override
      public void issued(String csrName, X509Certificate certificate, Duration sinceCreation) {
        each.forEach(l -> l.issued(csrName, certificate, sinceCreation));
      }

      @Override
      public void failed(String csrName, String reason) {
        each.forEach(l -> l.failed(csrName, reason));
      }

      @Override
      public void conflict(String csrName) {
        each.forEach(l -> l.conflict(csrName));
      }

      @Override
      public void caRotation(CaRotation.Change change, CaRotation state) {
        each.forEach(l -> l.caRotation(change, state));
      }

      @Override
      public void caRejected(String problem) {
        each.forEach(l -> l.caRejected(problem));
      }

      @Override
      public void podCertificateIssued(String request, X509Certificate certificate, Duration sinceCreation) {
        each.forEach(l -> l.podCertificateIssued(request, certificate, sinceCreation));
      }

      @Override
      public void podCertificateDenied(String request, String reason) {
        each.forEach(l -> l.podCertificateDenied(request, reason));
      }

      @Override
      public void podCertificateFailed(String request, String reason) {
        each.forEach(l -> l.podCertificateFailed(request, reason));
      }

      @Override
      public void trustBundleRepaired(String configMap, String reason) {
        each.forEach(l -> l.trustBundleRepaired(configMap, reason));
      }
    };
  }
}
