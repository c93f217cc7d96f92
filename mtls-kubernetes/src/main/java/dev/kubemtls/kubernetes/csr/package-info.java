/**
 * Certificates through the {@code certificates.k8s.io/v1} API.
 *
 * <p>A {@link dev.kubemtls.kubernetes.csr.CertificateIssuer} is an
 * {@link dev.kubemtls.core.rotation.IdentityIssuer}: for every request it makes a fresh key in
 * memory, sends a CertificateSigningRequest naming the workload's identity with a signer name,
 * usages and {@code expirationSeconds}, watches that one request until an approver and a signer
 * have acted (or it is denied, failed, deleted or replaced), and validates what it got: the key
 * matches, the names and usages are the ones asked for, the validity is sane, the chain leads to
 * the trust bundle. Only then does the certificate manager publish it. A request that an attempt
 * gave up on while it was still pending is remembered and resumed by the next attempt, rather than
 * replaced by a new one, while it is still usable and young enough.
 */
package dev.kubemtls.kubernetes.csr;
