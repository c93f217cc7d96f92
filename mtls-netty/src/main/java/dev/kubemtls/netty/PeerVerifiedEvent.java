package dev.kubemtls.netty;

import dev.kubemtls.core.peer.PeerIdentity;
import java.util.Objects;
import java.util.Optional;

/**
 * A user event fired down a channel's pipeline once the TLS handshake has succeeded and the peer has
 * passed the {@link dev.kubemtls.core.peer.PeerPolicy}.
 *
 * <p>It follows Netty's own {@link io.netty.handler.ssl.SslHandshakeCompletionEvent}; application
 * handlers that must not act before the peer is known wait for this event (or for
 * {@link NettyMtls#peerFuture}). A peer that the policy rejects never produces this event: its
 * connection is closed instead. The identity is empty only on a server with
 * {@link dev.kubemtls.core.tls.ClientAuth#OPTIONAL} whose client sent no certificate.
 *
 * @param peer the verified identity of the other end, if it presented a certificate
 */
public record PeerVerifiedEvent(Optional<PeerIdentity> peer) {

  public PeerVerifiedEvent {
    Objects.requireNonNull(peer, "peer");
  }
}
