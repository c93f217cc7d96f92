package dev.kubemtls.core;

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

  /** A snapshot with the same identity and a new trust bundle, one generation later. */
  public MtlsMaterial withTrust(TrustBundle newTrust) {
    return new MtlsMaterial(identity, newTrust, generation + 1);
  }

  /** A snapshot with a new identity and the same trust bundle, one generation later. */
  public MtlsMaterial withIdentity(TlsIdentity newIdentity) {
    return new MtlsMaterial(newIdentity, trust, generation + 1);
  }
}
