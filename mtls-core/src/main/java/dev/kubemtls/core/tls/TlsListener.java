package dev.kubemtls.core.tls;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.rotation.ManagerListener;
import java.time.Duration;
import java.util.Optional;

/**
 * What the TLS integrations (mtls-netty, mtls-servlet) tell the outside world about the handshakes
 * of their connections: the hook for handshake metrics, events and alerts. Every method has a no-op
 * default; implement those you need. {@link ManagerListener} is its counterpart for the certificate
 * lifecycle.
 *
 * <p>Who reports what: a listener is given to a server or client builder ({@code .listener(...)})
 * and hears about every connection that server or client makes or accepts, each from its own
 * {@linkplain Side side}. Each connection's handshake is reported at most once: either
 * {@link #handshakeSucceeded} (the peer is trusted and, where the integration applies a
 * {@link PeerPolicy} to connections, allowed) or {@link #handshakeFailed} with a
 * {@link HandshakeFailure} that says what to look at. Refusals that happen per request after a
 * successful handshake, as in a servlet filter, are reported by {@link #requestRefused}.
 *
 * <p>Where a failure shows depends on the side that detects it. A server that refuses a client
 * certificate reports {@link HandshakeFailure#UNTRUSTED_PEER} (or another class); with TLS 1.2 the
 * client's handshake fails too and it reports {@link HandshakeFailure#REJECTED_BY_PEER}, but with
 * TLS 1.3 the client finishes its side of the handshake first, reports it as succeeded, and only
 * learns of the refusal as an error on its next read, which is not a handshake event.
 *
 * <p>Methods are called on I/O threads (a Netty event loop, a Jetty selector or worker thread) while
 * the connection waits: they must return quickly and must not block, for example by incrementing a
 * counter or handing the event to a queue. An exception thrown by a listener is caught and logged
 * (at most once a minute for each server, client or filter it was given to) and never affects the
 * connection.
 */
public interface TlsListener {

  /** The listener that ignores everything; the default, and free on the handshake path. */
  TlsListener NO_OP = new TlsListener() { };

  /**
   * One listener that tells each of {@code listeners}, in order; one that throws is logged and does
   * not keep the others from being told. {@link #NO_OP}s are left out: none left gives {@link #NO_OP}
   * (so an integration still skips its handshake bookkeeping), one gives that listener itself.
   */
  static TlsListener all(TlsListener... listeners) {
    return all(java.util.List.of(listeners));
  }

  /** As {@link #all(TlsListener...)}, for a list (which is copied). */
  static TlsListener all(java.util.List<? extends TlsListener> listeners) {
    return dev.kubemtls.core.internal.CompositeListeners.tls(listeners);
  }

  /**
   * The TLS handshake completed and the peer was accepted.
   *
   * @param side        which end of the connection this process is
   * @param peer        the peer's identity from its verified certificate; empty when the peer sent
   *                    none (a server that accepts clients without certificates) or, on a Jetty
   *                    connector, when its certificate does not name exactly one identity
   * @param protocol    the negotiated protocol version, e.g. {@code TLSv1.3}
   * @param cipherSuite the negotiated cipher suite, e.g. {@code TLS_AES_128_GCM_SHA256}
   * @param took        from the start of the connection's TLS handshake to now
   */
  default void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol,
      String cipherSuite, Duration took) {}

  /**
   * The TLS handshake failed, or the peer was refused before the connection carried any application
   * data; the connection is closed.
   *
   * @param side   which end of the connection this process is
   * @param reason what went wrong, as far as this side can tell
   * @param cause  the exception that ended the handshake, for logs; its message may name the peer
   * @param took   from the start of the connection's TLS handshake to now
   */
  default void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {}

  /**
   * A request on a connection whose handshake succeeded was refused by a per-request check (for
   * example {@code MtlsPeerFilter}); the connection stays open and each refused request is reported.
   *
   * @param reason {@link HandshakeFailure#NO_PEER_CERTIFICATE} or
   *               {@link HandshakeFailure#PEER_NOT_ALLOWED}
   * @param peer   the caller's identity, if it presented a readable certificate
   * @param detail why, as sent to the caller
   */
  default void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {}

  /** Which end of a connection reports an event. */
  enum Side {
    /** The end that accepted the connection. */
    SERVER,
    /** The end that made the connection. */
    CLIENT
  }

  /**
   * Why a handshake failed, in the classes an operator acts on. A class is only reported when the
   * reporting side can tell it apart reliably with both the JDK and the OpenSSL TLS providers;
   * anything else is {@link #OTHER}.
   */
  enum HandshakeFailure {
    /**
     * The peer sent no certificate although one is required (reported by servers). A client also
     * sends none when the server does not name the client's CA among the issuers it accepts, so
     * this is often a trust-bundle mismatch seen from the other side.
     */
    NO_PEER_CERTIFICATE,
    /** The peer's certificate chain does not verify against the trust bundle (unknown CA, bad signature). */
    UNTRUSTED_PEER,
    /** The peer's certificate (or a CA above it) is expired or not yet valid: check its renewal and the clocks. */
    EXPIRED_PEER_CERTIFICATE,
    /**
     * The server's certificate is trusted but does not carry the DNS name or IP address the client
     * dialled (reported by clients).
     */
    HOSTNAME_MISMATCH,
    /**
     * The peer's certificate verified, but kube-mtls refused its identity: it is outside the
     * {@link PeerPolicy} allow-list, or its certificate does not name exactly one workload.
     */
    PEER_NOT_ALLOWED,
    /**
     * The peer aborted the handshake because it refused this side's certificate (it sent a
     * certificate alert such as {@code bad_certificate}, {@code certificate_unknown},
     * {@code unknown_ca} or {@code certificate_required}). The peer's own report says why.
     */
    REJECTED_BY_PEER,
    /**
     * No protocol version or cipher suite in common, or the peer does not speak TLS at all (for
     * example plain HTTP to a TLS port).
     */
    PROTOCOL,
    /**
     * Anything else: the connection closed or timed out during the handshake, a generic
     * {@code handshake_failure} alert, no usable TLS material yet, an internal error.
     */
    OTHER
  }
}
