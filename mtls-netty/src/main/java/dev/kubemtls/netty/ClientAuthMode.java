package dev.kubemtls.netty;

/**
 * Whether a server demands a client certificate.
 *
 * <p>Under {@link #REQUIRE} (the default) a client without a trusted certificate never gets to send
 * application data: the TLS stack ends the handshake. Under {@link #OPTIONAL} a client may connect
 * without a certificate, in which case {@link NettyMtls#peer} stays empty and only an allow-all
 * {@link dev.kubemtls.core.peer.PeerPolicy} lets it in; a client that does present a certificate must
 * still present a trusted one.
 */
public enum ClientAuthMode {
  /** Every client must present a certificate that chains to the trust bundle. */
  REQUIRE,
  /** Clients may present no certificate; a presented certificate must still be trusted. */
  OPTIONAL
}
