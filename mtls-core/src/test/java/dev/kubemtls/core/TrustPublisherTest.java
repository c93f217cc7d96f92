package dev.kubemtls.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.internal.MaterialChecks;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TrustPublisherTest {

  private static final TestCa CA = TestCa.create("ca-one");
  private static final TestCa OTHER = TestCa.create("ca-two");

  @Test
  void publishesChangesInOrderAndIgnoresTheSameCertificates() {
    TrustPublisher publisher = new TrustPublisher();
    assertThat(publisher.currentIfReady()).isEmpty();
    assertThatThrownBy(publisher::current).isInstanceOf(IllegalStateException.class);
    List<String> seen = new ArrayList<>();
    MaterialSource.Subscription sub = publisher.subscribe(new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        seen.add(bundle.sourceVersion());
      }

      @Override
      public void onProblem(MtlsException problem) {
        seen.add("problem");
      }
    });

    assertThat(publisher.publish(new TrustBundle(List.of(CA.certificate()), "v1"))).isTrue();
    assertThat(publisher.publish(new TrustBundle(List.of(CA.certificate()), "v2"))).isFalse();
    publisher.reportProblem(new MtlsException("bad"));
    assertThat(publisher.publish(new TrustBundle(List.of(CA.certificate(), OTHER.certificate()), "v3"))).isTrue();
    sub.close();
    publisher.publish(new TrustBundle(List.of(OTHER.certificate()), "v4"));

    assertThat(seen).containsExactly("v1", "problem", "v3");
    assertThat(publisher.current().sourceVersion()).isEqualTo("v4");
  }

  @Test
  void theSameCertificatesAfterAProblemAreToldOnceToEndTheProblem() {
    TrustPublisher publisher = new TrustPublisher(new TrustBundle(List.of(CA.certificate()), "v1"));
    List<String> seen = new ArrayList<>();
    publisher.subscribe(new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        seen.add(bundle.sourceVersion());
      }

      @Override
      public void onProblem(MtlsException problem) {
        seen.add("problem");
      }
    });

    publisher.reportProblem(new MtlsException("deleted"));
    assertThat(publisher.publish(new TrustBundle(List.of(CA.certificate()), "v2"))).isFalse();
    assertThat(publisher.publish(new TrustBundle(List.of(CA.certificate()), "v3"))).isFalse();

    assertThat(seen).containsExactly("problem", "v1");
    assertThat(publisher.current().sourceVersion()).isEqualTo("v1");
  }

  @Test
  void aFixedSourceNeverChanges() {
    TrustBundle bundle = new TrustBundle(List.of(CA.certificate()), "fixed");
    TrustSource fixed = TrustSource.fixed(bundle);
    assertThat(fixed.current()).isSameAs(bundle);
    fixed.subscribe(b -> { }).close();
  }

  @Test
  void aKeyThatDoesNotMatchItsCertificateIsRefused() {
    KeyPair kp = TestCa.newKeyPair();
    KeyPair other = TestCa.newKeyPair();
    TlsIdentity mismatched = new TlsIdentity(other.getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 1);
    assertThatThrownBy(() -> MaterialChecks.requireKeyMatchesLeaf(mismatched))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("does not belong");
    TlsIdentity good = new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).build()), 1);
    MaterialChecks.requireKeyMatchesLeaf(good);
    MaterialChecks.requireChainsTo(good, new TrustBundle(List.of(CA.certificate()), "t"), Instant.now());
    assertThatThrownBy(() -> MaterialChecks.requireChainsTo(good, new TrustBundle(List.of(OTHER.certificate()), "t"),
        Instant.now())).isInstanceOf(InvalidMaterialException.class).hasMessageContaining("does not chain");
  }
}
