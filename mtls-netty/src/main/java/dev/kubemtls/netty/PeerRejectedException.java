package dev.kubemtls.netty;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.peer.PeerIdentity;
import java.util.Optional;

/**
 * A peer with a trusted certificate was refused: it is not in the
 * {@link dev.kubemtls.core.peer.PeerPolicy} allow-list or its certificate names more than one
 * identity (refused in the handshake, so the peer gets a TLS alert; the cause is the handshake's
 * failure), it sent no certificate where the policy needs one, or it resumed a session after its
 * certificate expired (refused once the handshake completed; the connection is closed).
 *
 * <p>The connection is closed when this is raised; {@link NettyMtls#peerFuture} fails with it, so an
 * application can tell a refused peer apart from a failed handshake.
 */
public final class PeerRejectedException extends MtlsException {
  private static final long serialVersionUID = 1L;

  private final transient PeerIdentity peer;
  private final String reason;

  public PeerRejectedException(PeerIdentity peer, String reason) {
    super(reason);
    this.peer = peer;
    this.reason = reason;
  }

  /** The refused peer's identity, if its certificate could be read. */
  public Optional<PeerIdentity> peer() {
    return Optional.ofNullable(peer);
  }

  /** Why the peer was refused, fit for a log line. */
  public String reason() {
    return reason;
  }
}
