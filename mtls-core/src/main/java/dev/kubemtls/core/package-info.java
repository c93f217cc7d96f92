/**
 * kube-mtls core: the TLS material of one workload and how it changes over time.
 *
 * <p>Who holds what: a {@link dev.kubemtls.core.TlsIdentity} is a private key (generated in this
 * process, never written anywhere) with the certificate chain issued for it; a
 * {@link dev.kubemtls.core.TrustBundle} is the set of CAs whose certificates peers must present.
 * An {@link dev.kubemtls.core.MtlsMaterial} snapshot holds one of each, immutably, and a
 * {@link dev.kubemtls.core.MaterialSource} hands out the current snapshot to the TLS integrations
 * for each new connection.
 *
 * <p>When it changes: a {@link dev.kubemtls.core.CertificateManager} obtains identities from an
 * {@link dev.kubemtls.core.IdentityIssuer}, renews each at a jittered point of its lifetime chosen
 * by a {@link dev.kubemtls.core.RotationPolicy}, and follows a {@link dev.kubemtls.core.TrustSource}
 * (for example a {@link dev.kubemtls.core.ConfigMapTrustSource}). Each renewal and each trust
 * change publishes a new snapshot, one generation later; material that fails validation is never
 * published, and failures keep the previous snapshot in service while they are retried.
 * {@link dev.kubemtls.core.ManagerListener} and {@link dev.kubemtls.core.Health} tell the outside
 * world what happened.
 *
 * <p>Time, threads and randomness are injected everywhere, so every decision can be tested with a
 * fake clock and scheduler. Everything under {@code dev.kubemtls.core.internal} is not API.
 */
package dev.kubemtls.core;
