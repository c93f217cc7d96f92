/**
 * Trust bundles from the cluster, followed as they change.
 *
 * <p>{@link dev.kubemtls.kubernetes.trust.ConfigMapTrustSource} follows one key of one ConfigMap
 * (by default the bundle the kube-mtls signer publishes into each namespace);
 * {@link dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource} follows the
 * ClusterTrustBundles linked to a signer name. Both are {@link dev.kubemtls.core.TrustSource}s
 * backed by an informer: a list, then a watch, and on every change a fresh read checked by the
 * rules of {@link dev.kubemtls.core.pki.CaBundles}. What does not pass never replaces a good bundle;
 * it is reported to the listeners instead. {@link dev.kubemtls.kubernetes.trust.TrustBundles}
 * reads a bundle once.
 */
package dev.kubemtls.kubernetes.trust;
