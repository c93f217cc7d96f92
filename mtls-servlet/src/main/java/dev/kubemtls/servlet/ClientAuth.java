package dev.kubemtls.servlet;

/**
 * Whether a kube-mtls server connector insists on a client certificate.
 *
 * <p>Either way, a certificate that the client does present is verified against the current trust
 * bundle during the handshake, and a certificate that fails verification ends the handshake. With
 * {@link #OPTIONAL}, clients without a certificate get through the handshake and it is up to the
 * application, typically with {@link MtlsPeerFilter}, to decide what they may reach.
 */
public enum ClientAuth {
  /** The handshake fails unless the client presents a certificate that the trust bundle accepts. */
  REQUIRED,
  /** The client is asked for a certificate but may connect without one. */
  OPTIONAL
}
