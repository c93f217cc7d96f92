/**
 * kube-mtls core: the TLS material of one workload as immutable snapshots, and the sources that
 * publish them. This module knows nothing of Kubernetes or of any TLS stack; the Kubernetes side
 * ({@code mtls-kubernetes}) produces material, the integrations ({@code mtls-netty},
 * {@code mtls-servlet}) consume it, and data flows one way between them.
 *
 * <p>Who holds what: a {@link dev.kubemtls.core.TlsIdentity} is a private key (made in this
 * process, never written anywhere) with the certificate chain issued for it; a
 * {@link dev.kubemtls.core.TrustBundle} is the set of CAs whose certificates peers must present. An
 * {@link dev.kubemtls.core.MtlsMaterial} snapshot holds one of each, and a
 * {@link dev.kubemtls.core.MaterialSource} hands the current snapshot to the integrations for every
 * new connection. A {@link dev.kubemtls.core.TrustSource} does the same for trust bundles alone;
 * {@link dev.kubemtls.core.MaterialPublisher} and {@link dev.kubemtls.core.TrustPublisher} are
 * sources a program feeds itself.
 *
 * <p>The rest of the flow lives beside this package:
 * <ul>
 *   <li>{@link dev.kubemtls.core.rotation}: when the material changes. A certificate manager renews
 *       the identity through any {@link dev.kubemtls.core.rotation.IdentityIssuer}, follows a trust
 *       source, and publishes each valid result as a new snapshot;</li>
 *   <li>{@link dev.kubemtls.core.pki}: PEM, key generation and the certificate rules that every
 *       side applies (what a CA is, whether a key matches, how a CA bundle is read);</li>
 *   <li>{@link dev.kubemtls.core.peer}: who the peer of a connection is (its SPIFFE ID) and whom a
 *       policy lets in;</li>
 *   <li>{@link dev.kubemtls.core.tls}: what the integrations report about handshakes and the TLS
 *       settings they share;</li>
 *   <li>{@link dev.kubemtls.core.names}: the names the signer and its workloads agree on.</li>
 * </ul>
 *
 * <p>Failures a caller acts on are {@link dev.kubemtls.core.MtlsException}s (denied, failed, timed
 * out, invalid material); programming errors are {@link java.lang.NullPointerException} and
 * {@link java.lang.IllegalArgumentException}. Material that fails validation is never published.
 * Types under {@code dev.kubemtls.core.internal} are not API.
 */
package dev.kubemtls.core;
