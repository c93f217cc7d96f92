/**
 * TLS material that someone else writes to files: the kubelet's {@code podCertificate} projected
 * volume (a key it generated and the chain a signer issued for it, renewed by the kubelet), and
 * CA bundles such as a projected {@code clusterTrustBundle} volume.
 *
 * <p>{@link dev.kubemtls.core.files.FileMaterialSource} reads key and chain, follows the
 * kubelet's atomic directory swaps, checks every new pair before it publishes it, and combines it
 * with any {@link dev.kubemtls.core.TrustSource}; {@link dev.kubemtls.core.files.FileTrustSource}
 * follows a PEM bundle file. Both feed the same integrations as the CSR mode of
 * {@code mtls-kubernetes}, with one difference to weigh: here the private key lives on the node's
 * tmpfs, readable by the pod's containers, not only in this process's memory.
 */
package dev.kubemtls.core.files;
