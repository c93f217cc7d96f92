/**
 * When the material changes: the rotation engine, which works with any issuer.
 *
 * <p>A {@link dev.kubemtls.core.rotation.CertificateManager} owns one identity over time. It asks
 * an {@link dev.kubemtls.core.rotation.IdentityIssuer} for the first certificate (the Kubernetes
 * CSR issuer in {@code mtls-kubernetes}, or any other), renews it at the point a
 * {@link dev.kubemtls.core.rotation.RotationPolicy} chooses (a jittered 70-90 % of its lifetime by
 * default, with backoff after failures), follows a {@link dev.kubemtls.core.TrustSource}, and
 * publishes every checked result as a new {@link dev.kubemtls.core.MtlsMaterial} snapshot. The
 * policy decides <em>when</em> and is pure; the manager is the thin loop that acts on an injected
 * clock and scheduler. {@link dev.kubemtls.core.rotation.ManagerListener} tells metrics and logs
 * what happened, {@link dev.kubemtls.core.rotation.Health} tells readiness probes whether the
 * workload can take part in mTLS right now.
 */
package dev.kubemtls.core.rotation;
