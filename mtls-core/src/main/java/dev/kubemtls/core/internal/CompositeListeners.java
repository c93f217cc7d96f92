package dev.kubemtls.core.internal;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The listeners behind {@link ManagerListener#all} and {@link TlsListener#all}: each event goes to
 * every listener in order; one that throws is logged and does not keep the rest from being told.
 */
public final class CompositeListeners {

  private static final Logger LOG = LoggerFactory.getLogger(CompositeListeners.class);

  private CompositeListeners() {}

  /** The listeners that are not the no-op, in order, without the nulls a caller must not pass. */
  private static <L> List<L> real(List<? extends L> listeners, L noOp) {
    List<L> out = new ArrayList<>(listeners.size());
    for (L l : listeners) {
      Objects.requireNonNull(l, "listener");
      if (l != noOp) {
        out.add(l);
      }
    }
    return List.copyOf(out);
  }

  private static <L> void each(List<L> all, Consumer<L> call, String kind) {
    for (L l : all) {
      try {
        call.accept(l);
      } catch (RuntimeException e) {
        LOG.warn("a {} failed: {}", kind, l, e);
      }
    }
  }

  /** See {@link ManagerListener#all(List)}. */
  public static ManagerListener manager(List<? extends ManagerListener> listeners) {
    List<ManagerListener> all = real(listeners, ManagerListener.NO_OP);
    if (all.isEmpty()) {
      return ManagerListener.NO_OP;
    }
    if (all.size() == 1) {
      return all.get(0);
    }
    return new ManagerListener() {
      private void each(Consumer<ManagerListener> call) {
        CompositeListeners.each(all, call, "certificate manager listener");
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

      @Override
      public String toString() {
        return "ManagerListener.all" + all;
      }
    };
  }

  /** See {@link TlsListener#all(List)}. */
  public static TlsListener tls(List<? extends TlsListener> listeners) {
    List<TlsListener> all = real(listeners, TlsListener.NO_OP);
    if (all.isEmpty()) {
      return TlsListener.NO_OP;
    }
    if (all.size() == 1) {
      return all.get(0);
    }
    return new TlsListener() {
      private void each(Consumer<TlsListener> call) {
        CompositeListeners.each(all, call, "TLS listener");
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

      @Override
      public String toString() {
        return "TlsListener.all" + all;
      }
    };
  }
}
