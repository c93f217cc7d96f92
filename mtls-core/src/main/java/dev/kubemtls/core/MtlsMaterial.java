package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.internal.MaterialChecks;
import java.util.Objects;

/**
 * One immutable snapshot of everything an mTLS endpoint needs: who it is ({@link TlsIdentity})
 * and whom it trusts ({@link TrustBundle}).
 *
 * <p>A {@link MaterialSource} hands out one snapshot at a time and replaces it atomically when the
 * certificate is renewed or the trust bundle changes. Integrations read the current snapshot for
 * each new connection; a connection keeps the snapshot it started with.
 *
 * @param identity   the private key and certificate chain to present
 * @param trust      the CAs that peers' certificates must chain to
 * @param generation grows by one with every new snapshot from the same source (identity or trust
 *                   change), so consumers can cache per snapshot
 */
public record MtlsMaterial(TlsIdentity identity, TrustBundle trust, long generation) {

  public MtlsMaterial {
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(trust, "trust");
    if (generation < 1) {
      throw new IllegalArgumentException("generation must be positive, was " + generation);
    }
  }

  /**
   * Checks that this snapshot can serve mutual TLS at all, the same checks every kube-mtls
   * integration (Netty, Jetty) makes before it builds a TLS context from a snapshot:
   * <ul>
   *   <li>the private key belongs to the leaf certificate (a sign/verify probe, for EC, RSA and
   *       Ed25519 keys; other key types are refused);</li>
   *   <li>the leaf certificate is not a CA certificate;</li>
   *   <li>the chain is ordered leaf first, each certificate signed by the next;</li>
   *   <li>every certificate of the trust bundle is a CA certificate.</li>
   * </ul>
   * It does not check validity periods or that the chain ends in the bundle (a
   * {@link CertificateManager} does that against its clock before it publishes), nor revocation.
   * The first call for a snapshot costs one signature and one verification; later calls for the
   * same (or an equal) snapshot find it checked already. Every kube-mtls source validates a
   * snapshot before publishing it.
   *
   * @throws InvalidMaterialException naming the first problem found and what to do about it
   */
  public void validate() {
    MaterialChecks.requireUsable(this);
  }

  /** A snapshot with the same identity and a new trust bundle, one generation later. */
  public MtlsMaterial withTrust(TrustBundle newTrust) {
    return new MtlsMaterial(identity, newTrust, generation + 1);
  }

  /** A snapshot with a new identity and the same trust bundle, one generation later. */
  public MtlsMaterial withIdentity(TlsIdentity newIdentity) {
    return new MtlsMaterial(newIdentity, trust, generation + 1);
  }
}
