package dev.kubemtls.spring;

import dev.kubemtls.core.peer.PeerIdentity;
import java.security.Principal;
import java.util.Objects;

/**
 * The verified caller of a WebFlux request, as {@code exchange.getPrincipal()} gives it once
 * {@link MtlsPeerWebFilter} let the request through. Its name is the SPIFFE ID (or the subject).
 * On servlet servers the starter's filter gives {@code dev.kubemtls.servlet.PeerPrincipal} instead.
 *
 * @param identity the caller's certificate identity
 */
public record MtlsPeerPrincipal(PeerIdentity identity) implements Principal {

  public MtlsPeerPrincipal {
    Objects.requireNonNull(identity, "identity");
  }

  @Override
  public String getName() {
    return identity.displayName();
  }
}
