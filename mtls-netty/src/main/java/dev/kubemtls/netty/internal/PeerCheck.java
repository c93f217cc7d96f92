package dev.kubemtls.netty.internal;

import dev.kubemtls.core.internal.VerifiedChains;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import java.util.Objects;

/**
 * What the peer check of every connection of one {@code ServerTls} or {@code ClientTls} needs; built
 * once per instance, so a connection holds one reference to it.
 *
 * @param side                which end the connections are
 * @param policy              the allow-list applied once the handshake has verified the peer
 * @param certificateRequired whether a peer without a certificate is refused
 * @param listener            told about each handshake; {@link TlsListener#NO_OP} or a guarded one
 * @param chains              where each verified leaf's identity is read once (shared with the
 *                            handle's trust managers)
 */
public record PeerCheck(TlsListener.Side side, PeerPolicy policy, boolean certificateRequired,
    TlsListener listener, VerifiedChains chains) {

  public PeerCheck {
    Objects.requireNonNull(side, "side");
    Objects.requireNonNull(policy, "policy");
    Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(chains, "chains");
  }

  /** A check with its own identity cache on the system clock. */
  public PeerCheck(TlsListener.Side side, PeerPolicy policy, boolean certificateRequired,
      TlsListener listener) {
    this(side, policy, certificateRequired, listener, VerifiedChains.withSystemClock());
  }

  /** {@code server} or {@code client}, for log lines. */
  public String label() {
    return side == TlsListener.Side.SERVER ? "server" : "client";
  }

  /** Whether anyone listens: with {@link TlsListener#NO_OP} no handshake is timed or reported. */
  public boolean reporting() {
    return listener != TlsListener.NO_OP;
  }
}
