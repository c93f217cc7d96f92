package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pure pairing of identity with trust, one row per rule; real certificates from test CAs. */
class PairingTest {

  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final TestCa CA = TestCa.create("pairing-one", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TestCa OTHER = TestCa.create("pairing-two", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TrustBundle ONE = new TrustBundle(List.of(CA.certificate()), "one@1");
  private static final TrustBundle BOTH = new TrustBundle(List.of(CA.certificate(), OTHER.certificate()), "both@2");
  private static final TrustBundle TWO = new TrustBundle(List.of(OTHER.certificate()), "two@3");

  private static TlsIdentity identity(TestCa ca, long generation) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(ca.leaf(kp.getPublic()).dns("svc.ns.svc")
        .validity(T0.minus(Duration.ofMinutes(1)), Duration.ofHours(1)).build()), generation);
  }

  @Test
  void anIssuedIdentityIsPublishedWithTheBundleInUseOneGenerationOn() {
    TlsIdentity id = identity(CA, 1);
    Pairing.Decision first = Pairing.issued(id, 1, null, ONE, null, T0);
    assertThat(first).isEqualTo(new Pairing.Publish(new MtlsMaterial(id, ONE, 1), false));
    TlsIdentity renewed = identity(CA, 2);
    assertThat(Pairing.issued(renewed, 2, new MtlsMaterial(id, ONE, 7), ONE, null, T0))
        .isEqualTo(new Pairing.Publish(new MtlsMaterial(renewed, ONE, 8), false));
  }

  @Test
  void anIssuedIdentityIsRefusedForTheWrongGenerationExpiryOrAChainToNothingTrusted() {
    assertThat(Pairing.issued(identity(CA, 2), 1, null, ONE, null, T0)).isInstanceOfSatisfying(Pairing.Refuse.class,
        r -> assertThat(r.reason()).hasMessageContaining("generation 2 when asked for 1"));
    assertThat(Pairing.issued(identity(CA, 1), 1, null, ONE, null, T0.plus(Duration.ofHours(2))))
        .isInstanceOfSatisfying(Pairing.Refuse.class, r -> assertThat(r.reason()).hasMessageContaining("expired"));
    assertThat(Pairing.issued(identity(OTHER, 1), 1, null, ONE, null, T0)).isInstanceOf(Pairing.Refuse.class);
  }

  @Test
  void withoutABundleTheIdentityWaitsAndIsPublishedWhenOneArrives() {
    TlsIdentity id = identity(CA, 1);
    assertThat(Pairing.issued(id, 1, null, null, null, T0)).isInstanceOf(Pairing.AwaitTrust.class);
    assertThat(Pairing.firstTrust(id, ONE, T0)).isEqualTo(new Pairing.Publish(new MtlsMaterial(id, ONE, 1), false));
    assertThat(Pairing.firstTrust(id, TWO, T0)).isInstanceOf(Pairing.Refuse.class);
    assertThat(Pairing.firstTrust(id, ONE, T0.plus(Duration.ofHours(2))))
        .isInstanceOfSatisfying(Pairing.Refuse.class, r -> assertThat(r.reason())
            .hasMessageContaining("waiting for a trust bundle expired"));
  }

  @Test
  void aBundleTheServedIdentityDoesNotChainToIsHeldUntilARenewedIdentityDoes() {
    MtlsMaterial served = new MtlsMaterial(identity(CA, 1), ONE, 3);
    assertThat(Pairing.trustChanged(served, TWO, T0)).isInstanceOfSatisfying(Pairing.Hold.class, h -> {
      assertThat(h.bundle()).isEqualTo(TWO);
      assertThat(h.reason()).hasMessageContaining("kept the trust bundle one@1").hasMessageContaining("two@3");
    });
    TlsIdentity renewed = identity(OTHER, 2);
    assertThat(Pairing.issued(renewed, 2, served, ONE, TWO, T0))
        .isEqualTo(new Pairing.Publish(new MtlsMaterial(renewed, TWO, 4), true));
    TlsIdentity stillOld = identity(CA, 2);
    assertThat(Pairing.issued(stillOld, 2, served, ONE, TWO, T0))
        .as("a renewal that still chains only to the bundle in use keeps it")
        .isEqualTo(new Pairing.Publish(new MtlsMaterial(stillOld, ONE, 4), false));
  }

  @Test
  void aBundleTheServedIdentityChainsToIsPublishedAndTheSameBundleChangesNothing() {
    TlsIdentity id = identity(CA, 1);
    MtlsMaterial served = new MtlsMaterial(id, ONE, 3);
    assertThat(Pairing.trustChanged(served, BOTH, T0)).isEqualTo(new Pairing.Publish(served.withTrust(BOTH), false));
    assertThat(Pairing.trustChanged(served, new TrustBundle(List.of(CA.certificate()), "one@9"), T0))
        .isInstanceOf(Pairing.Unchanged.class);
    assertThat(Pairing.trustChanged(served, BOTH, T0.plus(Duration.ofHours(5))))
        .as("an expired identity does not block a bundle it chains to")
        .isEqualTo(new Pairing.Publish(served.withTrust(BOTH), false));
  }

  @Test
  void whatItPublishesPassesValidationAsAWholeSoABundleWithALeafInItIsNotUsed() {
    TlsIdentity id = identity(CA, 1);
    MtlsMaterial served = new MtlsMaterial(id, ONE, 3);
    TrustBundle withALeaf = new TrustBundle(List.of(CA.certificate(), identity(CA, 9).leaf()), "leafy@4");
    assertThat(Pairing.trustChanged(served, withALeaf, T0)).isInstanceOfSatisfying(Pairing.Refuse.class,
        r -> assertThat(r.reason()).hasMessageContaining("trust bundle leafy@4"));
    assertThat(Pairing.issued(identity(CA, 4), 4, served, withALeaf, null, T0)).isInstanceOf(Pairing.Refuse.class);
    assertThat(Pairing.firstTrust(id, withALeaf, T0)).isInstanceOf(Pairing.Refuse.class);
    Pairing.Decision ok = Pairing.issued(identity(CA, 4), 4, served, ONE, null, T0);
    assertThat(ok).isInstanceOfSatisfying(Pairing.Publish.class,
        p -> assertThatCode(p.material()::validate).doesNotThrowAnyException());
  }
}
