/**
 * Implementation of the signer, not an API: it may change in any release without notice. The
 * signer's API is {@link dev.kubemtls.signer.SignerMain} and {@link dev.kubemtls.signer.SignerConfig}.
 *
 * <p>The pieces, from the pure to the connected: {@link dev.kubemtls.signer.internal.CertificateAuthority}
 * turns an approved PKCS#10 request into a certificate with an injected clock, under a
 * {@link dev.kubemtls.signer.internal.ValidityPolicy};
 * {@link dev.kubemtls.signer.internal.ApprovalPolicy} decides, as a pure function of the request,
 * the {@link dev.kubemtls.signer.internal.Requester} the API server recorded and a
 * {@link dev.kubemtls.signer.internal.ClusterView}, whether the requester may have the names it
 * asks for; {@link dev.kubemtls.signer.internal.CaRotation} is the pure CA rotation state;
 * {@link dev.kubemtls.signer.internal.TrustBundlePublisher} keeps the bundle ConfigMap in every
 * opted-in namespace and {@link dev.kubemtls.signer.internal.ClusterTrustBundlePublisher} the
 * ClusterTrustBundle; {@link dev.kubemtls.signer.internal.Signer} runs the controllers and the
 * publishers on the replica that holds the leader Lease. What a replica does is observable:
 * {@link dev.kubemtls.signer.internal.SignerMetrics} (Micrometer meters fed as a
 * {@link dev.kubemtls.signer.internal.SignerListener}),
 * {@link dev.kubemtls.signer.internal.SignerServer} ({@code /metrics}, {@code /livez},
 * {@code /readyz}) and Events on the CSRs it denies or fails. Also here: CSR parsing, the work
 * queue, the CSR and PodCertificateRequest controllers and the API lookups of the approver.
 *
 * <p>The project's tests, samples and benchmarks use these types to run a signer in-process; code
 * outside this project should run {@code SignerMain} instead.
 */
package dev.kubemtls.signer.internal;
