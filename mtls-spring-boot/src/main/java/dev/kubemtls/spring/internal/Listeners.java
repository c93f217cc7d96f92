package dev.kubemtls.spring.internal;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsListener;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every {@link ManagerListener} or {@link TlsListener} bean of the application as one listener
 * (the metrics binding's and the application's own), in bean order; one that throws is logged and
 * does not keep the others from being told.
 */
public final class Listeners {

  private static final Logger LOG = LoggerFactory.getLogger(Listeners.class);

  private Listeners() {}

  public static ManagerListener manager(List<ManagerListener> listeners) {
    List<ManagerListener> all = List.copyOf(listeners);
    if (all.isEmpty()) {
      return ManagerListener.NO_OP;
    }
    if (all.size() == 1) {
      return all.get(0);
    }
    return new ManagerListener() {
      private void each(Consumer<ManagerListener> call) {
        for (ManagerListener l : all) {
          try {
            call.accept(l);
          } catch (RuntimeException e) {
            LOG.warn("a certificate manager listener failed: {}", l, e);
          }
        }
      }

      @Override
      public void issued(TlsIdentity identity, Duration took) {
        each(l -> l.issued(identity, took));
      }

      @Override
      public void ready(MtlsMaterial material) {
        each(l -> l.ready(material));
      }

      @Override
      public void rotated(MtlsMaterial previous, MtlsMaterial current) {
        each(l -> l.rotated(previous, current));
      }

      @Override
      public void renewalScheduled(TlsIdentity identity, Instant at) {
        each(l -> l.renewalScheduled(identity, at));
      }

      @Override
      public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
        each(l -> l.renewalFailed(error, attempt, nextAttempt));
      }

      @Override
      public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
        each(l -> l.denied(denial, attempt, nextAttempt));
      }

      @Override
      public void gaveUp(CertificateDeniedException denial, int attempt) {
        each(l -> l.gaveUp(denial, attempt));
      }

      @Override
      public void expired(TlsIdentity identity) {
        each(l -> l.expired(identity));
      }

      @Override
      public void recovered(MtlsMaterial material, Duration downtime) {
        each(l -> l.recovered(material, downtime));
      }

      @Override
      public void trustChanged(TrustBundle previous, TrustBundle current) {
        each(l -> l.trustChanged(previous, current));
      }

      @Override
      public void trustRejected(MtlsException problem) {
        each(l -> l.trustRejected(problem));
      }
    };
  }

  public static TlsListener tls(List<TlsListener> listeners) {
    List<TlsListener> all = List.copyOf(listeners);
    if (all.isEmpty()) {
      return TlsListener.NO_OP;
    }
    if (all.size() == 1) {
      return all.get(0);
    }
    return new TlsListener() {
      private void each(Consumer<TlsListener> call) {
        for (TlsListener l : all) {
          try {
            call.accept(l);
          } catch (RuntimeException e) {
            LOG.warn("a TLS listener failed: {}", l, e);
          }
        }
      }

      @Override
      public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol, String cipherSuite,
          Duration took) {
        each(l -> l.handshakeSucceeded(side, peer, protocol, cipherSuite, took));
      }

      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        each(l -> l.handshakeFailed(side, reason, cause, took));
      }

      @Override
      public void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {
        each(l -> l.requestRefused(reason, peer, detail));
      }
    };
  }
}
