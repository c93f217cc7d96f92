package dev.kubemtls.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link MaterialPublisher} keeps the promise of {@link MaterialSource}: material that fails
 * {@link MtlsMaterial#validate()} cannot be published, neither first nor over working material, and
 * nobody hears of it.
 */
class MaterialPublisherTest {

  private static final TestCa CA = TestCa.create("publisher-ca");
  private static final TestCa OTHER = TestCa.create("publisher-other");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");

  private static TlsIdentity identity(long generation) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).spiffe("ns", "sa").build()), generation);
  }

  /** Each way a snapshot can be unusable by a TLS stack, with the words that say so. */
  private static List<Object[]> invalid(long generation) {
    TlsIdentity good = identity(generation);
    KeyPair caKeys = OTHER.keyPair();
    return List.of(
        new Object[] {new MtlsMaterial(new TlsIdentity(TestCa.newKeyPair().getPrivate(), good.chain(), generation),
            TRUST, generation), "does not belong to the leaf certificate"},
        new Object[] {new MtlsMaterial(new TlsIdentity(caKeys.getPrivate(), List.of(OTHER.certificate()), generation),
            TRUST, generation), "is a CA certificate"},
        new Object[] {new MtlsMaterial(new TlsIdentity(good.privateKey(), List.of(good.leaf(), OTHER.certificate()),
            generation), TRUST, generation), "is not signed by certificate 1"},
        new Object[] {new MtlsMaterial(good, new TrustBundle(List.of(CA.certificate(), identity(9).leaf()), "t@2"),
            generation), "trust bundle t@2"});
  }

  @Test
  void invalidMaterialCannotBeTheFirst() {
    for (Object[] row : invalid(1)) {
      assertThatThrownBy(() -> new MaterialPublisher((MtlsMaterial) row[0]))
          .isInstanceOf(InvalidMaterialException.class).hasMessageContaining((String) row[1]);
      MaterialPublisher publisher = new MaterialPublisher();
      assertThatThrownBy(() -> publisher.publish((MtlsMaterial) row[0]))
          .isInstanceOf(InvalidMaterialException.class).hasMessageContaining((String) row[1]);
      assertThat(publisher.currentIfReady()).isEmpty();
    }
  }

  @Test
  void invalidMaterialNeverReplacesWorkingMaterialAndNoListenerHearsOfIt() {
    MtlsMaterial working = new MtlsMaterial(identity(1), TRUST, 1);
    MaterialPublisher publisher = new MaterialPublisher(working);
    List<MtlsMaterial> told = new ArrayList<>();
    publisher.subscribe(told::add);
    for (Object[] row : invalid(2)) {
      assertThatThrownBy(() -> publisher.publish((MtlsMaterial) row[0]))
          .isInstanceOf(InvalidMaterialException.class).hasMessageContaining((String) row[1]);
      assertThat(publisher.current()).isSameAs(working);
    }
    assertThat(told).isEmpty();

    MtlsMaterial next = new MtlsMaterial(identity(2), TRUST, 2);
    publisher.publish(next);
    assertThat(told).containsExactly(next);
    assertThat(publisher.current()).isSameAs(next);
    // Everything a publisher hands out passes validation: what integrations check is checked already.
    assertThatCode(publisher.current()::validate).doesNotThrowAnyException();
  }
}
