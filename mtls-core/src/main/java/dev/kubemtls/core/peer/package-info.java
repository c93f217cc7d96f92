/**
 * Who is on the other end of a connection, and whether to let them in.
 *
 * <p>After the TLS stack has verified a peer's certificate against the trust bundle, the
 * integrations read a {@link dev.kubemtls.core.peer.PeerIdentity} from it: its SPIFFE ID
 * ({@link dev.kubemtls.core.peer.SpiffeId}, {@code spiffe://<trust-domain>/ns/<ns>/sa/<sa>}), and
 * from that the peer's namespace and ServiceAccount. A {@link dev.kubemtls.core.peer.PeerPolicy}
 * is the allow-list the integrations check it against, the same for servers and clients.
 */
package dev.kubemtls.core.peer;
