package dev.kubemtls.core.tls;

/**
 * Whether a server asks its clients for a certificate, and whether it insists on one. Part of a
 * {@link TlsPolicy}; every kube-mtls server (Netty, Jetty) reads it from there.
 *
 * <p>Either way, a certificate that a client does present is verified against the current trust
 * bundle during the handshake, and one that fails verification ends the handshake. Clients ignore
 * this setting: they always present their certificate when the server asks.
 */
public enum ClientAuth {
  /**
   * The default: the handshake fails unless the client presents a certificate that the trust
   * bundle accepts.
   */
  REQUIRE,
  /**
   * The client is asked for a certificate but may connect without one. Such a client has no
   * identity, so only a {@link dev.kubemtls.core.peer.PeerPolicy#allowAll()} policy (or a per-request
   * check such as a servlet filter) lets it through.
   */
  OPTIONAL
}
