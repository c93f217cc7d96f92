package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.signer.internal.CaRotation.CaKeyPair;
import dev.kubemtls.signer.internal.CaRotation.Change;
import dev.kubemtls.signer.internal.CaRotation.Phase;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CaRotationTest {

  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  private static final Duration PROPAGATION = Duration.ofSeconds(30);
  private static final Duration RETENTION = Duration.ofMinutes(2);

  private static final CaKeyPair A = ca("A");
  private static final CaKeyPair B = ca("B");
  private static final CaKeyPair C = ca("C");

  private static CaKeyPair ca(String name) {
    TestCa ca = TestCa.create("rotation-" + name);
    return new CaKeyPair(ca.certificate(), ca.keyPair().getPrivate());
  }

  @Test
  void steadyStateWithTheSameCaChangesNothing() {
    CaRotation.Step step = CaRotation.steady(A).reconcile(A, T0, PROPAGATION, RETENTION);
    assertThat(step.changed()).isFalse();
    assertThat(step.state().phase()).isEqualTo(Phase.STEADY);
    assertThat(step.state().bundle()).containsExactly(A.certificate());
    assertThat(step.state().nextTransition()).isEmpty();
  }

  @Test
  void fullRotationTrustsFirstThenSignsThenRetires() {
    CaRotation s = CaRotation.steady(A);

    CaRotation.Step started = s.reconcile(B, T0, PROPAGATION, RETENTION);
    assertThat(started.changes()).containsExactly(Change.STARTED);
    assertThat(started.state().phase()).isEqualTo(Phase.PROPAGATING);
    assertThat(started.state().signing()).isEqualTo(A);
    assertThat(started.state().bundle()).containsExactly(A.certificate(), B.certificate());
    assertThat(started.state().nextTransition()).contains(T0.plus(PROPAGATION));

    // Just before the switch, nothing moves; asking again with the same CA does not restart the delay.
    CaRotation.Step early = started.state().reconcile(B, T0.plus(PROPAGATION).minusMillis(1), PROPAGATION, RETENTION);
    assertThat(early.changed()).isFalse();
    assertThat(early.state().switchAt()).contains(T0.plus(PROPAGATION));

    Instant switchTime = T0.plus(PROPAGATION);
    CaRotation.Step switched = early.state().reconcile(B, switchTime, PROPAGATION, RETENTION);
    assertThat(switched.changes()).containsExactly(Change.SWITCHED);
    assertThat(switched.state().phase()).isEqualTo(Phase.RETIRING);
    assertThat(switched.state().signing()).isEqualTo(B);
    assertThat(switched.state().bundle()).containsExactly(B.certificate(), A.certificate());
    assertThat(switched.state().nextTransition()).contains(switchTime.plus(RETENTION));

    CaRotation.Step stillTrusted = switched.state().reconcile(B, switchTime.plus(RETENTION).minusMillis(1),
        PROPAGATION, RETENTION);
    assertThat(stillTrusted.state().bundle()).contains(A.certificate());

    CaRotation.Step retired = stillTrusted.state().reconcile(B, switchTime.plus(RETENTION), PROPAGATION, RETENTION);
    assertThat(retired.changes()).containsExactly(Change.RETIRED);
    assertThat(retired.state().phase()).isEqualTo(Phase.STEADY);
    assertThat(retired.state().bundle()).containsExactly(B.certificate());
  }

  @Test
  void aLateReconcileSwitchesAndRetiresRelativeToWhenItRuns() {
    // A signer that was down during the propagation switches when it comes back, and keeps the old
    // CA for a full retention from that moment: the old CA may have signed until then.
    Instant late = T0.plus(Duration.ofHours(1));
    CaRotation.Step s = CaRotation.steady(A).reconcile(B, T0, PROPAGATION, RETENTION).state()
        .reconcile(B, late, PROPAGATION, RETENTION);
    assertThat(s.changes()).containsExactly(Change.SWITCHED);
    assertThat(s.state().retiring()).containsExactly(new CaRotation.Retiring(A.certificate(), late.plus(RETENTION)));
  }

  @Test
  void zeroPropagationSwitchesAtOnceButStillRetiresGently() {
    CaRotation.Step s = CaRotation.steady(A).reconcile(B, T0, Duration.ZERO, RETENTION);
    assertThat(s.changes()).containsExactly(Change.STARTED, Change.SWITCHED);
    assertThat(s.state().bundle()).containsExactly(B.certificate(), A.certificate());
  }

  @Test
  void replacingThePendingCaRestartsTheDelayAndDropsTheUnusedOne() {
    CaRotation pending = CaRotation.steady(A).reconcile(B, T0, PROPAGATION, RETENTION).state();
    CaRotation.Step replaced = pending.reconcile(C, T0.plusSeconds(10), PROPAGATION, RETENTION);
    assertThat(replaced.changes()).containsExactly(Change.PENDING_REPLACED);
    assertThat(replaced.state().bundle()).containsExactly(A.certificate(), C.certificate());
    assertThat(replaced.state().switchAt()).contains(T0.plusSeconds(10).plus(PROPAGATION));
  }

  @Test
  void revertingToTheSigningCaCancelsThePendingOne() {
    CaRotation pending = CaRotation.steady(A).reconcile(B, T0, PROPAGATION, RETENTION).state();
    CaRotation.Step reverted = pending.reconcile(A, T0.plusSeconds(5), PROPAGATION, RETENTION);
    assertThat(reverted.changes()).containsExactly(Change.PENDING_CANCELLED);
    assertThat(reverted.state().phase()).isEqualTo(Phase.STEADY);
    assertThat(reverted.state().bundle()).containsExactly(A.certificate());
  }

  @Test
  void aSecondRotationWhileTheFirstCaRetiresKeepsEveryCaThatMaySignedAValidCertificate() {
    Instant t1 = T0.plus(PROPAGATION);
    CaRotation afterFirst = CaRotation.steady(A).reconcile(B, T0, PROPAGATION, RETENTION).state()
        .reconcile(B, t1, PROPAGATION, RETENTION).state();
    CaRotation secondPending = afterFirst.reconcile(C, t1.plusSeconds(1), PROPAGATION, RETENTION).state();
    assertThat(secondPending.bundle()).containsExactly(B.certificate(), C.certificate(), A.certificate());

    Instant t2 = t1.plusSeconds(1).plus(PROPAGATION);
    CaRotation.Step secondSwitch = secondPending.reconcile(C, t2, PROPAGATION, RETENTION);
    assertThat(secondSwitch.state().signing()).isEqualTo(C);
    assertThat(secondSwitch.state().bundle()).containsExactly(C.certificate(), A.certificate(), B.certificate());
    // A leaves first (its own retention), then B.
    assertThat(secondSwitch.state().nextTransition()).contains(t1.plus(RETENTION));
    CaRotation afterA = secondSwitch.state().reconcile(C, t1.plus(RETENTION), PROPAGATION, RETENTION).state();
    assertThat(afterA.bundle()).containsExactly(C.certificate(), B.certificate());
    CaRotation afterB = afterA.reconcile(C, t2.plus(RETENTION), PROPAGATION, RETENTION).state();
    assertThat(afterB.bundle()).containsExactly(C.certificate());
  }

  @Test
  void rotatingBackToARetiringCaPassesThroughPropagationAgain() {
    Instant t1 = T0.plus(PROPAGATION);
    CaRotation retiringA = CaRotation.steady(A).reconcile(B, T0, PROPAGATION, RETENTION).state()
        .reconcile(B, t1, PROPAGATION, RETENTION).state();
    CaRotation.Step back = retiringA.reconcile(A, t1.plusSeconds(1), PROPAGATION, RETENTION);
    assertThat(back.changes()).containsExactly(Change.STARTED);
    assertThat(back.state().signing()).isEqualTo(B);
    assertThat(back.state().bundle()).containsExactly(B.certificate(), A.certificate());
    CaRotation.Step switched = back.state().reconcile(A, t1.plusSeconds(1).plus(PROPAGATION), PROPAGATION, RETENTION);
    assertThat(switched.state().signing()).isEqualTo(A);
    assertThat(switched.state().retiring()).extracting(CaRotation.Retiring::certificate)
        .containsExactly(B.certificate());
  }

  @Test
  void rejectsInconsistentStateAndNegativeDurations() {
    assertThatThrownBy(() -> new CaRotation(A, Optional.of(B), Optional.empty(), List.of()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> CaRotation.steady(A).reconcile(B, T0, Duration.ofSeconds(-1), RETENTION))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("propagationDelay");
  }
}
