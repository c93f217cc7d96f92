/**
 * Keys, PEM and the certificate rules that the signer and every workload apply alike.
 *
 * <p>{@link dev.kubemtls.core.pki.KeyAlgorithm} makes keys in memory; {@link dev.kubemtls.core.pki.Pem}
 * reads and writes PEM text from hostile sources with bounded sizes and clear errors;
 * {@link dev.kubemtls.core.pki.CertificateChecks} is the one definition of a CA certificate (RFC
 * 5280: keyUsage absent is allowed, present must include keyCertSign) and of the key/certificate
 * match; {@link dev.kubemtls.core.pki.CaBundles} turns PEM text from any trust source into a
 * {@link dev.kubemtls.core.TrustBundle} by those rules; {@link dev.kubemtls.core.pki.Role} says
 * which side of mTLS a certificate serves. Because both sides call this code, a signer can never
 * accept material its workloads refuse.
 */
package dev.kubemtls.core.pki;
