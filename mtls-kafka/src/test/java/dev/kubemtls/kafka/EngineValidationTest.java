package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.testing.EnginePair;
import dev.kubemtls.testkit.TestCa;
import org.junit.jupiter.api.Test;

/**
 * The handshake a broker runs between its own factory's engines when a listener starts (Kafka's
 * engine validator): a client engine made with an empty host and an empty endpoint identification
 * algorithm, which must turn the host check off, against a server engine of the same factory.
 */
class EngineValidationTest {

  @Test
  void aClientEngineWithoutEndpointIdentificationCompletesKafkasValidationHandshake() {
    TestCa ca = TestCa.create("cluster CA");
    try (KafkaMtls.Registration r = KafkaMtls.register("validation-broker",
        new MaterialPublisher(Pki.material(Pki.broker(ca, 1), Pki.trust("v1", ca))))) {
      MtlsSslEngineFactory factory = new MtlsSslEngineFactory();
      factory.configure(r.brokerConfig());
      try {
        EnginePair.Outcome o = EnginePair.run(factory.createClientSslEngine("", 0, ""),
            factory.createServerSslEngine("", 0));
        assertThat(o.succeeded()).as(o.toString()).isTrue();
        // And with Kafka's default the same empty host is refused: the check is on unless turned off.
        EnginePair.Outcome checked = EnginePair.run(factory.createClientSslEngine("", 0, "https"),
            factory.createServerSslEngine("", 0));
        assertThat(checked.succeeded()).as(checked.toString()).isFalse();
      } finally {
        factory.close();
      }
    }
  }
}
