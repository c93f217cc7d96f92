package dev.kubemtls.core.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import java.time.Instant;
import java.util.Objects;

/**
 * Pairs identity with trust, and nothing else: from the snapshot served now, the identity or
 * bundle that just arrived, a held bundle and the time, it says which snapshot to publish or why
 * not. It holds no state, takes no lock and tells no listener; the rotation loop
 * ({@code CertificateManager}) and the file source ({@code FileMaterialSource}) both act on its
 * {@link Decision}, so both hold back, refuse and report the same way. Not API.
 *
 * <p>The rules: an identity is published only if it is the generation asked for, not expired,
 * usable (key matches leaf) and chains to the bundle it is paired with; with no bundle yet it
 * waits for one. A renewed identity that chains to the held bundle is published with it (the held
 * bundle is adopted). A new bundle that the served identity does not chain to is held, and the
 * served snapshot kept, until a renewed identity chains to it; one it chains to is published with
 * the served identity. The served identity's chain is checked just before its notAfter when it has
 * expired, so an expired identity does not block a bundle it chains to.
 */
public final class Pairing {

  private Pairing() {}

  /** What to do with what arrived. */
  public sealed interface Decision permits Publish, AwaitTrust, Unchanged, Refuse, Hold {}

  /** Publish {@code material}; {@code adoptsHeld}: it pairs the identity with the held bundle. */
  public record Publish(MtlsMaterial material, boolean adoptsHeld) implements Decision {}

  /** There is no bundle yet: keep the identity until one arrives. */
  public record AwaitTrust() implements Decision {}

  /** The bundle is the one in use: nothing to publish (a held bundle or trust problem is over). */
  public record Unchanged() implements Decision {}

  /** The identity must not be published: {@code reason} says why. */
  public record Refuse(InvalidMaterialException reason) implements Decision {}

  /** Keep the served snapshot and hold {@code bundle} until a renewed identity chains to it. */
  public record Hold(TrustBundle bundle, InvalidMaterialException reason) implements Decision {}

  /**
   * A newly issued identity.
   *
   * @param generation the generation that was asked for
   * @param served     the snapshot served now, or null
   * @param trust      the bundle in use, or null when none has arrived
   * @param held       a newer bundle the served identity does not chain to, or null
   */
  public static Decision issued(TlsIdentity identity, long generation, MtlsMaterial served, TrustBundle trust,
      TrustBundle held, Instant now) {
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(now, "now");
    try {
      if (identity.generation() != generation) {
        throw new InvalidMaterialException("the issuer returned generation " + identity.generation()
            + " when asked for " + generation);
      }
      if (!now.isBefore(identity.notAfter())) {
        throw new InvalidMaterialException("the issuer returned an expired certificate: " + identity);
      }
      // The identity half of MtlsMaterial.validate(): never publish what an integration would refuse.
      MaterialChecks.requireUsable(identity);
    } catch (InvalidMaterialException e) {
      return new Refuse(e);
    }
    if (trust == null) {
      return new AwaitTrust();
    }
    if (held != null && chains(identity, held, now)) {
      return publish(next(served, identity, held), true);
    }
    try {
      MaterialChecks.requireChainsTo(identity, trust, now);
    } catch (InvalidMaterialException e) {
      return new Refuse(e);
    }
    return publish(next(served, identity, trust), false);
  }

  /** An identity kept while there was no bundle, now that the first one arrived. */
  public static Decision firstTrust(TlsIdentity waiting, TrustBundle bundle, Instant now) {
    if (!now.isBefore(waiting.notAfter())) {
      return new Refuse(new InvalidMaterialException("the identity waiting for a trust bundle expired: " + waiting));
    }
    try {
      MaterialChecks.requireChainsTo(waiting, bundle, now);
    } catch (InvalidMaterialException e) {
      return new Refuse(e);
    }
    return publish(new MtlsMaterial(waiting, bundle, 1), false);
  }

  /**
   * A new bundle while {@code served} is published: {@link Unchanged}, {@link Hold}, {@link Publish},
   * or {@link Refuse} when the snapshot with the new bundle fails validation (the bundle is not used).
   */
  public static Decision trustChanged(MtlsMaterial served, TrustBundle bundle, Instant now) {
    Objects.requireNonNull(served, "served");
    if (served.trust().certificates().equals(bundle.certificates())) {
      return new Unchanged();
    }
    TlsIdentity identity = served.identity();
    // Check the chain, not the clock: an expired identity must not block a trust change it chains to.
    Instant at = now.isBefore(identity.notAfter()) ? now : identity.notAfter().minusMillis(1);
    try {
      MaterialChecks.requireChainsTo(identity, bundle, at);
    } catch (InvalidMaterialException e) {
      return new Hold(bundle, new InvalidMaterialException("kept the trust bundle " + served.trust().sourceVersion()
          + ": the current certificate does not chain to the new bundle " + bundle.sourceVersion()
          + "; holding the new bundle until a renewed certificate chains to it", e));
    }
    return publish(served.withTrust(bundle), false);
  }

  /**
   * Publish {@code material} only if it passes {@link MtlsMaterial#validate()} as a whole (the trust
   * half too: every entry of the bundle a CA), so what a source publishes is valid by construction
   * and integrations find it checked already; refused otherwise.
   */
  private static Decision publish(MtlsMaterial material, boolean adoptsHeld) {
    try {
      MaterialChecks.requireUsable(material);
    } catch (InvalidMaterialException e) {
      return new Refuse(e);
    }
    return new Publish(material, adoptsHeld);
  }

  private static MtlsMaterial next(MtlsMaterial served, TlsIdentity identity, TrustBundle trust) {
    return new MtlsMaterial(identity, trust, served == null ? 1 : served.generation() + 1);
  }

  private static boolean chains(TlsIdentity identity, TrustBundle bundle, Instant at) {
    try {
      MaterialChecks.requireChainsTo(identity, bundle, at);
      return true;
    } catch (InvalidMaterialException e) {
      return false;
    }
  }
}
