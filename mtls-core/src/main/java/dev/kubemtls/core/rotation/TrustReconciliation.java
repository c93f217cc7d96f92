package dev.kubemtls.core.rotation;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.internal.Pairing;
import java.time.Instant;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows a {@link CertificateManager}'s trust source: each new bundle is paired with the served
 * identity by {@link Pairing} and published with it, held aside (and a renewal brought forward)
 * when the identity does not chain to it, or, before the first snapshot, kept for the identity that
 * waits for it. Works on the state of the manager's {@link RenewalLoop}, under its lock.
 */
final class TrustReconciliation implements TrustSource.Listener {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateManager.class);

  private final RenewalLoop loop;

  TrustReconciliation(RenewalLoop loop) {
    this.loop = loop;
  }

  @Override
  public void onBundle(TrustBundle bundle) {
    onTrustBundle(bundle);
  }

  @Override
  public void onProblem(MtlsException problem) {
    onTrustProblem(problem);
  }

  private void onTrustBundle(TrustBundle bundle) {
    try {
      updateTrust(bundle);
    } finally {
      loop.announceFirst();
    }
  }

  private void updateTrust(TrustBundle bundle) {
    synchronized (loop) {
      if (loop.closed) {
        return;
      }
      Optional<MtlsMaterial> m = loop.announcer.currentIfReady();
      Instant now = loop.clock.instant();
      if (m.isEmpty()) {
        loop.trust = bundle;
        loop.heldTrust = null;
        loop.lastTrustProblem = null;
        TlsIdentity pending = loop.pendingIdentity;
        if (pending != null) {
          loop.pendingIdentity = null;
          Pairing.Decision decision = Pairing.firstTrust(pending, bundle, now);
          if (decision instanceof Pairing.Publish publish) {
            loop.publishIdentity(publish.material(), now);
          } else {
            loop.fail(((Pairing.Refuse) decision).reason());
          }
        }
        return;
      }
      MtlsMaterial material = m.get();
      Pairing.Decision decision = Pairing.trustChanged(material, bundle, now);
      if (decision instanceof Pairing.Unchanged) {
        if (loop.heldTrust != null) {
          LOG.info("the trust source is back to the bundle in use; dropping the held bundle {}", loop.heldTrust);
          loop.heldTrust = null;
        }
        if (loop.lastTrustProblem != null) {
          LOG.info("the trust source is back to the bundle in use; its problem is over");
          loop.lastTrustProblem = null;
        }
        return;
      }
      if (decision instanceof Pairing.Hold hold) {
        loop.heldTrust = hold.bundle();
        MtlsException problem = hold.reason();
        loop.lastTrustProblem = problem;
        LOG.warn("{}", problem.getMessage());
        loop.announcer.tell(l -> l.trustRejected(problem));
        loop.renewSoon(now);
        return;
      }
      if (decision instanceof Pairing.Refuse refuse) {
        MtlsException problem = refuse.reason();
        loop.lastTrustProblem = problem;
        LOG.warn("trust bundle {} refused, keeping the bundle in use: {}", bundle.sourceVersion(), problem.getMessage());
        loop.announcer.tell(l -> l.trustRejected(problem));
        return;
      }
      MtlsMaterial next = ((Pairing.Publish) decision).material();
      loop.trust = bundle;
      loop.heldTrust = null;
      loop.lastTrustProblem = null;
      loop.announcer.publish(next);
      LOG.info("trust bundle changed to {}", bundle);
      loop.announcer.tell(l -> l.trustChanged(material.trust(), bundle));
    }
  }

  private void onTrustProblem(MtlsException problem) {
    synchronized (loop) {
      if (loop.closed) {
        return;
      }
      loop.lastTrustProblem = problem;
      LOG.warn("trust source problem, keeping the bundle in use: {}", problem.getMessage());
      loop.announcer.tell(l -> l.trustRejected(problem));
    }
  }
}
