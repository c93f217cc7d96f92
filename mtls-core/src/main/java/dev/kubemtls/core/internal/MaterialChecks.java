package dev.kubemtls.core.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.pki.CertificateChecks;
import java.security.GeneralSecurityException;
import java.security.InvalidAlgorithmParameterException;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;

/**
 * The checks material must pass before a {@code CertificateManager} publishes it or an integration
 * hands it to a TLS stack. The public entry point is {@link dev.kubemtls.core.MtlsMaterial#validate()};
 * this class is its single implementation. Not API.
 */
public final class MaterialChecks {

  private MaterialChecks() {}

  /**
   * Everything a TLS stack needs from one snapshot: the key matches the leaf, the leaf is not a CA,
   * the chain is ordered leaf first with each certificate signed by the next, and every trust entry
   * is a CA certificate.
   *
   * @throws InvalidMaterialException naming the first problem found
   */
  public static void requireUsable(MtlsMaterial material) {
    if (VALIDATED.containsKey(material)) {
      return;
    }
    requireUsable(material.identity());
    requireCaCertificates(material.trust());
    VALIDATED.put(material, Boolean.TRUE);
  }

  /**
   * Snapshots that passed {@link #requireUsable(MtlsMaterial)}, held weakly: a snapshot is
   * immutable, so one check is enough. The publisher checks each snapshot before anyone sees it;
   * an integration that checks again (it may be given a {@code MaterialSource} of somebody else's)
   * then pays a lookup, not a signature.
   */
  private static final Map<MtlsMaterial, Boolean> VALIDATED = Collections.synchronizedMap(new WeakHashMap<>());

  /**
   * Identities that passed {@link #requireUsable(TlsIdentity)}, held weakly: the pairing checks a
   * new identity before it pairs it, and the snapshot it makes of it then costs no second probe.
   */
  private static final Map<TlsIdentity, Boolean> USABLE_IDENTITIES = Collections.synchronizedMap(new WeakHashMap<>());

  /** The identity half of {@link #requireUsable(MtlsMaterial)}. */
  public static void requireUsable(TlsIdentity identity) {
    if (USABLE_IDENTITIES.containsKey(identity)) {
      return;
    }
    requireLeafNotCa(identity);
    requireKeyMatchesLeaf(identity);
    requireChainOrder(identity);
    USABLE_IDENTITIES.put(identity, Boolean.TRUE);
  }

  /** A workload certificate must have basicConstraints CA=false (or none). */
  public static void requireLeafNotCa(TlsIdentity identity) {
    if (identity.leaf().getBasicConstraints() >= 0) {
      throw new InvalidMaterialException("the leaf certificate of " + identity
          + " is a CA certificate; a workload certificate must have basicConstraints CA=false");
    }
  }

  /** Each certificate of the chain is signed by the next one: leaf first, then each issuer. */
  public static void requireChainOrder(TlsIdentity identity) {
    List<X509Certificate> chain = identity.chain();
    for (int i = 0; i + 1 < chain.size(); i++) {
      try {
        chain.get(i).verify(chain.get(i + 1).getPublicKey());
      } catch (GeneralSecurityException e) {
        throw new InvalidMaterialException("certificate " + i + " of the chain of " + identity
            + " is not signed by certificate " + (i + 1) + ": order the chain leaf first, then each issuer", e);
      }
    }
  }

  /** Every certificate of the bundle is a CA certificate ({@link CertificateChecks#caProblem}). */
  public static void requireCaCertificates(TrustBundle bundle) {
    List<X509Certificate> cas = bundle.certificates();
    for (int i = 0; i < cas.size(); i++) {
      CertificateChecks.requireCa(cas.get(i), "trust bundle " + bundle.sourceVersion() + ": certificate " + (i + 1));
    }
  }

  /** The private key signs what the leaf's public key verifies ({@link CertificateChecks#keyMatches}). */
  public static void requireKeyMatchesLeaf(TlsIdentity identity) {
    if (!CertificateChecks.isSupportedKey(identity.privateKey())) {
      throw new InvalidMaterialException(identity + " has a " + identity.privateKey().getAlgorithm()
          + " key; kube-mtls supports EC, RSA and Ed25519 keys");
    }
    if (!CertificateChecks.keyMatches(identity.leaf().getPublicKey(), identity.privateKey())) {
      throw new InvalidMaterialException("the private key does not belong to the leaf certificate of " + identity);
    }
  }

  /**
   * The identity's chain is valid at {@code at} and ends in one of the bundle's CAs (PKIX, no
   * revocation checks).
   */
  public static void requireChainsTo(TlsIdentity identity, TrustBundle bundle, Instant at) {
    Set<TrustAnchor> anchors = new HashSet<>();
    for (X509Certificate ca : bundle.certificates()) {
      anchors.add(new TrustAnchor(ca, null));
    }
    List<X509Certificate> path = new ArrayList<>();
    path.add(identity.leaf());
    for (X509Certificate c : identity.chain().subList(1, identity.chain().size())) {
      if (!bundle.certificates().contains(c)) {
        path.add(c);
      }
    }
    try {
      CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
      PKIXParameters params = new PKIXParameters(anchors);
      params.setRevocationEnabled(false);
      params.setDate(Date.from(at));
      CertPathValidator.getInstance("PKIX").validate(certPath, params);
    } catch (CertPathValidatorException e) {
      throw new InvalidMaterialException(identity + " does not chain to " + bundle + " at " + at + ": "
          + e.getMessage(), e);
    } catch (InvalidAlgorithmParameterException e) {
      throw new InvalidMaterialException("cannot use " + bundle + " as trust anchors: " + e.getMessage(), e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK cannot validate certificate paths", e);
    }
  }
}
