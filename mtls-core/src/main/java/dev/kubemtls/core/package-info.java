/**
 * kube-mtls core: mutual-TLS material for in-cluster Kubernetes workloads, obtained from the
 * certificates.k8s.io/v1 API and held only in memory.
 *
 * <p>The model: a {@link dev.kubemtls.core.WorkloadIdentity} says who the workload is (namespace,
 * ServiceAccount, Services, pod IP, role). A {@link dev.kubemtls.core.CertificateIssuer} turns it
 * into a {@link dev.kubemtls.core.TlsIdentity}: a fresh in-memory key
 * ({@link dev.kubemtls.core.KeyAlgorithm}), a CertificateSigningRequest, a watch until an approver
 * and signer have acted, and strict validation of the result. {@link dev.kubemtls.core.TrustBundles}
 * reads the CAs to trust ({@link dev.kubemtls.core.TrustBundle}) from a ConfigMap. Identity and
 * trust travel together as one immutable {@link dev.kubemtls.core.MtlsMaterial} snapshot that a
 * {@link dev.kubemtls.core.MaterialSource} hands to the TLS integrations.
 *
 * <p>Failures a caller acts on are {@link dev.kubemtls.core.MtlsException}s (denied, failed, timed
 * out, invalid material); programming errors are {@link java.lang.NullPointerException} and
 * {@link java.lang.IllegalArgumentException}. Types in {@code dev.kubemtls.core.internal} are not
 * API.
 */
package dev.kubemtls.core;
