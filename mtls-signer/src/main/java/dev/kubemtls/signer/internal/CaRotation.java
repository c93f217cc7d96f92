package dev.kubemtls.signer.internal;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The CA rotation plan: which CA signs, which CAs the published bundle holds, and when that changes.
 * Pure: it decides from the state, the CA the operator wants and the time, and has no clock, no
 * I/O and no threads of its own, so every step is table-tested.
 *
 * <p>A rotation never breaks a connection between workloads. When the operator puts a new CA in
 * the CA Secret:
 * <ol>
 *   <li>the new CA joins the bundle at once, while the old one keeps signing ({@link Phase#PROPAGATING});
 *   <li>after the propagation delay (long enough for every workload to have loaded the new bundle)
 *       the new CA signs, and the old one stays in the bundle ({@link Phase#RETIRING});
 *   <li>the old CA leaves the bundle once no certificate it signed can still be valid: its last
 *       signature plus the signer's maximum certificate lifetime plus a margin for clock skew.
 * </ol>
 * A second rotation may start while an old CA is still retiring; several CAs then share the bundle.
 * Changing the CA Secret again during propagation replaces the pending CA (it never signed).
 *
 * @param signing  the CA that signs now
 * @param pending  the next CA, in the bundle but not signing yet
 * @param switchAt when {@code pending} starts signing; present exactly when {@code pending} is
 * @param retiring former signing CAs, each in the bundle until its removal time
 */
public record CaRotation(CaKeyPair signing, Optional<CaKeyPair> pending, Optional<Instant> switchAt,
    List<Retiring> retiring) {

  /** A CA certificate and its key. */
  public record CaKeyPair(X509Certificate certificate, PrivateKey key) {
    public CaKeyPair {
      Objects.requireNonNull(certificate, "certificate");
      Objects.requireNonNull(key, "key");
    }

    /** Whether both name the same CA certificate (byte for byte). */
    public boolean sameCertificate(CaKeyPair other) {
      return other != null && sameCert(certificate, other.certificate);
    }

    @Override
    public String toString() {
      return "CA[" + certificate.getSubjectX500Principal().getName() + ", serial="
          + certificate.getSerialNumber().toString(16) + ", notAfter=" + certificate.getNotAfter().toInstant() + "]";
    }
  }

  /** A former signing CA, trusted until {@code removeAt}. */
  public record Retiring(X509Certificate certificate, Instant removeAt) {
    public Retiring {
      Objects.requireNonNull(certificate, "certificate");
      Objects.requireNonNull(removeAt, "removeAt");
    }
  }

  /** Where a rotation stands. */
  public enum Phase {
    /** One CA signs and is the only one trusted. */
    STEADY,
    /** A new CA is trusted but does not sign yet. */
    PROPAGATING,
    /** The new CA signs; one or more old CAs are still trusted. */
    RETIRING
  }

  /** What a reconciliation changed, for events and logs. */
  public enum Change { STARTED, PENDING_REPLACED, PENDING_CANCELLED, SWITCHED, RETIRED }

  /** The state after a reconciliation, and what changed to get there. */
  public record Step(CaRotation state, List<Change> changes) {
    public Step {
      changes = List.copyOf(changes);
    }

    public boolean changed() {
      return !changes.isEmpty();
    }
  }

  public CaRotation {
    Objects.requireNonNull(signing, "signing");
    Objects.requireNonNull(pending, "pending");
    Objects.requireNonNull(switchAt, "switchAt");
    if (pending.isPresent() != switchAt.isPresent()) {
      throw new IllegalArgumentException("a pending CA needs a switch time, and only a pending CA has one");
    }
    retiring = List.copyOf(retiring);
  }

  /** The state of a signer whose only CA is {@code ca}. */
  public static CaRotation steady(CaKeyPair ca) {
    return new CaRotation(ca, Optional.empty(), Optional.empty(), List.of());
  }

  public Phase phase() {
    if (pending.isPresent()) {
      return Phase.PROPAGATING;
    }
    return retiring.isEmpty() ? Phase.STEADY : Phase.RETIRING;
  }

  /** The CAs to publish: the signing CA first, then the pending one, then those retiring. */
  public List<X509Certificate> bundle() {
    List<X509Certificate> out = new ArrayList<>();
    out.add(signing.certificate());
    pending.ifPresent(p -> out.add(p.certificate()));
    for (Retiring r : retiring) {
      if (out.stream().noneMatch(c -> sameCert(c, r.certificate()))) {
        out.add(r.certificate());
      }
    }
    return List.copyOf(out);
  }

  /** When this state next changes by itself (a switch or a removal), if ever. */
  public Optional<Instant> nextTransition() {
    Optional<Instant> next = switchAt;
    for (Retiring r : retiring) {
      if (next.isEmpty() || r.removeAt().isBefore(next.get())) {
        next = Optional.of(r.removeAt());
      }
    }
    return next;
  }

  /**
   * Moves the plan forward.
   *
   * @param desired          the CA the operator wants to sign with (the CA Secret's content)
   * @param now              the current time
   * @param propagationDelay how long a new CA is trusted before it signs
   * @param retention        how long a former CA stays trusted after its last signature: the
   *                         signer's maximum certificate lifetime plus a clock-skew margin
   */
  public Step reconcile(CaKeyPair desired, Instant now, Duration propagationDelay, Duration retention) {
    Objects.requireNonNull(desired, "desired");
    Objects.requireNonNull(now, "now");
    requireNonNegative("propagationDelay", propagationDelay);
    requireNonNegative("retention", retention);
    List<Change> changes = new ArrayList<>();
    CaKeyPair sign = signing;
    Optional<CaKeyPair> next = pending;
    Optional<Instant> at = switchAt;
    List<Retiring> old = new ArrayList<>(retiring);

    if (desired.sameCertificate(sign)) {
      if (next.isPresent()) {
        changes.add(Change.PENDING_CANCELLED);
        next = Optional.empty();
        at = Optional.empty();
      }
    } else if (next.isEmpty() || !desired.sameCertificate(next.get())) {
      changes.add(next.isEmpty() ? Change.STARTED : Change.PENDING_REPLACED);
      next = Optional.of(desired);
      at = Optional.of(now.plus(propagationDelay));
      // A CA coming back from retirement signs again only after it is pending like any other.
    }
    if (next.isPresent() && !now.isBefore(at.get())) {
      CaKeyPair promoted = next.get();
      old.removeIf(r -> sameCert(r.certificate(), promoted.certificate()));
      old.add(new Retiring(sign.certificate(), now.plus(retention)));
      sign = promoted;
      next = Optional.empty();
      at = Optional.empty();
      changes.add(Change.SWITCHED);
    }
    CaKeyPair signingNow = sign;
    boolean removed = old.removeIf(r -> !now.isBefore(r.removeAt()) || sameCert(r.certificate(),
        signingNow.certificate()));
    if (removed) {
      changes.add(Change.RETIRED);
    }
    return new Step(new CaRotation(sign, next, at, old), changes);
  }

  private static void requireNonNegative(String name, Duration d) {
    Objects.requireNonNull(d, name);
    if (d.isNegative()) {
      throw new IllegalArgumentException(name + " must not be negative, was " + d);
    }
  }

  static boolean sameCert(X509Certificate a, X509Certificate b) {
    try {
      return Arrays.equals(a.getEncoded(), b.getEncoded());
    } catch (java.security.cert.CertificateEncodingException e) {
      return false;
    }
  }

  @Override
  public String toString() {
    return "CaRotation[" + phase() + ", signing=" + signing + pending.map(p -> ", pending=" + p
        + " from " + switchAt.orElseThrow()).orElse("") + ", retiring=" + retiring.stream()
        .map(r -> r.certificate().getSerialNumber().toString(16) + " until " + r.removeAt()).toList() + "]";
  }
}
