/**
 * kube-mtls core: the TLS material of one workload, obtained from the certificates.k8s.io/v1 API,
 * held only in memory, and how it changes over time.
 *
 * <p>Who holds what: a {@link dev.kubemtls.kubernetes.WorkloadIdentity} says who the workload is
 * (namespace, ServiceAccount, Services, pod IP, role). A {@link dev.kubemtls.core.TlsIdentity} is a
 * private key (generated in this process, never written anywhere) with the certificate chain
 * issued for it; a {@link dev.kubemtls.core.TrustBundle} is the set of CAs whose certificates peers
 * must present. An {@link dev.kubemtls.core.MtlsMaterial} snapshot holds one of each, immutably,
 * and a {@link dev.kubemtls.core.MaterialSource} hands out the current snapshot to the TLS
 * integrations for each new connection.
 *
 * <p>How it is obtained: a {@link dev.kubemtls.kubernetes.csr.CertificateIssuer} turns the workload identity
 * into a TlsIdentity: a fresh key ({@link dev.kubemtls.core.pki.KeyAlgorithm}), a
 * CertificateSigningRequest, a watch until an approver and a signer have acted, and strict
 * validation of the result. {@link dev.kubemtls.kubernetes.trust.TrustBundles} reads CAs from a ConfigMap or
 * merges those of the ClusterTrustBundles linked to a signer name.
 *
 * <p>When it changes: a {@link dev.kubemtls.core.rotation.CertificateManager} renews the identity at a
 * jittered point of its lifetime chosen by a {@link dev.kubemtls.core.rotation.RotationPolicy}, and follows
 * a {@link dev.kubemtls.core.TrustSource}: a {@link dev.kubemtls.kubernetes.trust.ConfigMapTrustSource} follows
 * the bundle ConfigMap the signer publishes into each namespace, a
 * {@link dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource} the cluster-scoped ClusterTrustBundles
 * ({@code certificates.k8s.io/v1beta1}, where the cluster serves them) linked to the signer name. Each renewal and each trust change publishes a
 * new snapshot, one generation later; material that fails validation is never published, and
 * failures keep the previous snapshot in service while they are retried.
 * {@link dev.kubemtls.kubernetes.KubeMtls} wires all of this for a pod in a few lines;
 * {@link dev.kubemtls.core.rotation.ManagerListener} and {@link dev.kubemtls.core.rotation.Health} tell the outside
 * world what happened; {@link dev.kubemtls.core.tls.TlsListener} does the same for the handshakes of the
 * connections the TLS integrations make and accept.
 *
 * <p>Failures a caller acts on are {@link dev.kubemtls.core.MtlsException}s (denied, failed, timed
 * out, invalid material); programming errors are {@link java.lang.NullPointerException} and
 * {@link java.lang.IllegalArgumentException}. Time, threads and randomness are injected, so every
 * decision can be tested with a fake clock and scheduler. Types under
 * {@code dev.kubemtls.core.internal} are not API.
 */
package dev.kubemtls.core;

import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.rotation.Health;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.core.tls.TlsListener;

