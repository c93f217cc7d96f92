package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.names.DenialReasons;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The approver's denial reasons and the workloads' list of them ({@link DenialReasons}, which
 * decides which denials end a first issuance at once) are the same set: a reason added to the
 * approver must be classed as final or as one that may change.
 */
class DenialReasonsAgreementTest {

  @Test
  void everyApproverReasonIsClassedAndNoOtherIs() throws IllegalAccessException {
    Set<String> approver = new HashSet<>();
    for (Field f : ApprovalDecision.class.getFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        approver.add((String) f.get(null));
      }
    }
    approver.remove(ApprovalDecision.APPROVED);
    Set<String> classed = new HashSet<>(DenialReasons.FINAL);
    classed.addAll(DenialReasons.MAY_CHANGE);
    assertThat(classed).isEqualTo(approver);
  }
}
