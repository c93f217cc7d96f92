/**
 * The names the kube-mtls signer and its workloads agree on: the API server's rules for
 * Kubernetes names and signer names ({@link dev.kubemtls.core.names.KubernetesNames},
 * {@link dev.kubemtls.core.names.SignerNames}), and the default names of what the signer publishes
 * ({@link dev.kubemtls.core.names.Defaults}), the DNS names of a Service
 * ({@link dev.kubemtls.core.names.ServiceNames}) and the key usages
 * ({@link dev.kubemtls.core.names.Usages}). Pure string rules, no Kubernetes client: the signer,
 * the Kubernetes side and any other source share them, so none accepts a name another refuses.
 */
package dev.kubemtls.core.names;
