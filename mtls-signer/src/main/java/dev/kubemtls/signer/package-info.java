/**
 * The kube-mtls signer: approves and signs the CertificateSigningRequests of one signer name and
 * publishes the CA bundle that workloads trust. It is an application, run as a Deployment; its API
 * is the program and its configuration.
 *
 * <p>{@link dev.kubemtls.signer.SignerMain} is the program: it reads a
 * {@link dev.kubemtls.signer.SignerConfig} from flags and {@code KUBE_MTLS_*} environment
 * variables, loads the CA from its Secret and runs one replica (leader election on a Lease, CSR
 * approval and signing, trust-bundle publication, CA rotation with overlap, {@code /metrics},
 * {@code /livez} and {@code /readyz}); {@code SignerMain --help} lists the flags and
 * {@code SignerMain rotate-ca} starts a CA rotation.
 *
 * <p>Everything else lives in {@code dev.kubemtls.signer.internal}: the CA, the approval policy,
 * the controllers, the publishers, the metrics and the HTTP endpoints. That package is not an API:
 * the project's own tests, samples and benchmarks use it, and it may change in any release.
 */
package dev.kubemtls.signer;
