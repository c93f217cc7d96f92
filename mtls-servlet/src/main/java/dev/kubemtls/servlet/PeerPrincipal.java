package dev.kubemtls.servlet;

import dev.kubemtls.core.peer.PeerIdentity;
import java.security.Principal;
import java.util.Objects;

/**
 * The {@link Principal} that {@link MtlsPeerFilter} installs as the request's user principal: the
 * verified identity of the mTLS client.
 *
 * <p>Its name is the peer's SPIFFE ID ({@code spiffe://<td>/ns/<namespace>/sa/<service-account>}),
 * or the certificate subject when the certificate carries no SPIFFE ID. Cast
 * {@code request.getUserPrincipal()} to this type, or read the
 * {@link MtlsPeerFilter#PEER_IDENTITY_ATTRIBUTE} request attribute, to get the full
 * {@link PeerIdentity} (namespace, ServiceAccount, DNS and IP names).
 *
 * @param identity the peer identity read from the client certificate the TLS stack verified
 */
public record PeerPrincipal(PeerIdentity identity) implements Principal {

  /** Wraps {@code identity}, which must not be null. */
  public PeerPrincipal {
    Objects.requireNonNull(identity, "identity");
  }

  /** The SPIFFE ID, or the certificate subject when there is none. */
  @Override
  public String getName() {
    return identity.displayName();
  }

  @Override
  public String toString() {
    return "PeerPrincipal[" + identity.displayName() + "]";
  }
}
