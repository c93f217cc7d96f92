package dev.kubemtls.core.rotation;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import java.util.Optional;

/**
 * What a {@link CertificateManager} says about itself: its {@link CertificateManager.Status} for
 * probes, and where its first issuance stands when {@link CertificateManager#awaitReady} gives up.
 * Reads the state of the manager's {@link RenewalLoop}; callers hold its lock.
 */
final class ManagerDiagnostics {

  private ManagerDiagnostics() {}

  /** Holds the lock. The story for an {@link CertificateManager#awaitReady} that gives up. */
  static String whereTheFirstIssuanceStands(RenewalLoop loop) {
    if (loop.closed) {
      return "the certificate manager was closed";
    }
    if (loop.gaveUp != null) {
      return "gave up, no further attempt: " + loop.gaveUp.getMessage();
    }
    String before = loop.lastError == null ? "" : "; the attempt before failed (" + loop.failures + " in a row): "
        + loop.lastError.getMessage();
    if (loop.issuing != null) {
      String progress = loop.inProgress != null ? loop.inProgress.describe()
          : "the issuer reports no stage; attempt started at " + loop.issuingSince;
      return "issuance in progress, " + progress + before;
    }
    if (loop.pendingIdentity != null) {
      return "issued " + loop.pendingIdentity + ", waiting for the first trust bundle from " + loop.trustSource
          + (loop.lastTrustProblem == null ? "" : "; its last problem: " + loop.lastTrustProblem.getMessage());
    }
    if (loop.lastError != null) {
      return "the last attempt failed (" + loop.failures + " in a row), next attempt at " + loop.nextAttempt + ": "
          + loop.lastError.getMessage();
    }
    return "the first attempt has not started yet (due at " + loop.nextAttempt + ")";
  }

  /** Holds the lock. {@code ready}: {@link CertificateManager#isReady()} now. */
  static CertificateManager.Status status(RenewalLoop loop, boolean ready) {
    Optional<MtlsMaterial> m = loop.announcer.currentIfReady();
    CertificateManager.State state;
    if (loop.closed) {
      state = CertificateManager.State.CLOSED;
    } else if (!loop.started) {
      state = CertificateManager.State.NEW;
    } else if (m.isEmpty()) {
      state = CertificateManager.State.STARTING;
    } else {
      state = ready ? CertificateManager.State.READY : CertificateManager.State.EXPIRED;
    }
    return new CertificateManager.Status(state, m.map(MtlsMaterial::generation).orElse(0L),
        m.map(x -> x.identity().notAfter()), Optional.ofNullable(loop.nextAttempt), loop.failures,
        Optional.ofNullable(loop.lastError), Optional.ofNullable(loop.trust).map(TrustBundle::sourceVersion),
        Optional.ofNullable(loop.heldTrust).map(TrustBundle::sourceVersion), Optional.ofNullable(loop.lastTrustProblem),
        Optional.ofNullable(loop.inProgress));
  }
}
