/**
 * The kube-mtls signer: approves and signs the CertificateSigningRequests of one signer name and
 * publishes the CA bundle that workloads trust.
 *
 * <p>The pieces, from the pure to the connected: {@link dev.kubemtls.signer.CertificateAuthority}
 * turns an approved PKCS#10 request into a certificate with an injected clock;
 * {@link dev.kubemtls.signer.ApprovalPolicy} decides, as a pure function of the request, the
 * requester the API server recorded and a {@link dev.kubemtls.signer.ClusterView}, whether the
 * requester may have the names it asks for; {@link dev.kubemtls.signer.TrustBundlePublisher} keeps
 * the bundle ConfigMap in every opted-in namespace; {@link dev.kubemtls.signer.Signer} runs the
 * controller and the publisher on the replica that holds the leader Lease; and
 * {@link dev.kubemtls.signer.SignerMain} is the program, configured by
 * {@link dev.kubemtls.signer.SignerConfig}. What a replica does is observable:
 * {@link dev.kubemtls.signer.SignerMetrics} (Micrometer meters fed as a
 * {@link dev.kubemtls.signer.SignerListener}), {@link dev.kubemtls.signer.SignerServer}
 * ({@code /metrics}, {@code /livez}, {@code /readyz}) and Events on the CSRs it denies or fails.
 */
package dev.kubemtls.signer;
