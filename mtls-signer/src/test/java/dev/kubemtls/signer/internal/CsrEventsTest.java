package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.testkit.MutableClock;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The per-requester Event budget: a flood of denials from one requester writes a bounded number of Events. */
class CsrEventsTest {

  @Test
  void aRequesterGetsABurstThenOneEventPerRefillAndOthersAreUnaffected() {
    MutableClock clock = new MutableClock(Instant.parse("2026-03-01T12:00:00Z"));
    // A client that is never called: take() decides before anything is written.
    try (KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build()).build();
        CsrEvents events = new CsrEvents(client, "test", clock)) {
      int written = 0;
      for (int i = 0; i < 1000; i++) {
        if (events.take("system:serviceaccount:flood:flooder")) {
          written++;
        }
      }
      assertThat(written).isEqualTo(CsrEvents.BURST);
      assertThat(events.take("system:serviceaccount:shop:web")).isTrue();
      clock.advance(CsrEvents.REFILL.minusMillis(1));
      assertThat(events.take("system:serviceaccount:flood:flooder")).isFalse();
      clock.advance(Duration.ofMillis(1));
      assertThat(events.take("system:serviceaccount:flood:flooder")).isTrue();
      assertThat(events.take("system:serviceaccount:flood:flooder")).isFalse();
      clock.advance(CsrEvents.REFILL.multipliedBy(1000));
      int refilled = 0;
      while (events.take("system:serviceaccount:flood:flooder")) {
        refilled++;
      }
      assertThat(refilled).isEqualTo(CsrEvents.BURST);
    }
  }
}
