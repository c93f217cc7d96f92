/**
 * kube-mtls on Kubernetes: everything that talks to the API server, producing the material that
 * {@code mtls-core} publishes and the integrations serve. Nothing here knows about Netty or Jetty.
 *
 * <p>The flow, in the order it runs:
 * <ol>
 *   <li>{@link dev.kubemtls.kubernetes.WorkloadIdentity}: who the pod is (namespace,
 *       ServiceAccount, Services, pod IP), read from the pod's environment, and so what its
 *       certificate names: a SPIFFE ID, Service DNS names, the pod IP;</li>
 *   <li>{@link dev.kubemtls.kubernetes.csr}: a key made in memory, a PKCS#10 request, a
 *       {@code certificates.k8s.io/v1} CertificateSigningRequest, a watch until it is issued,
 *       denied or failed, and strict validation of the certificate that came back;</li>
 *   <li>{@link dev.kubemtls.kubernetes.trust}: the CA bundle, followed from the ConfigMap the signer
 *       publishes or from the ClusterTrustBundles of its signer name;</li>
 *   <li>{@link dev.kubemtls.kubernetes.KubeMtls}: the few lines that wire the three to
 *       {@code mtls-core}'s certificate manager, and the {@code MaterialSource} the integrations
 *       read.</li>
 * </ol>
 */
package dev.kubemtls.kubernetes;
