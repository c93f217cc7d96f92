package dev.kubemtls.spring;

import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.testkit.KafkaKraftBroker;
import java.util.Map;

/** The test kit's broker, on the Kafka version Spring Boot manages, as the starter's tests run it. */
final class KafkaTestBroker {

  static final String BROKER_ID = "spiffe://cluster.local/ns/kafka/sa/broker";
  static final String ADMIN_ID = "spiffe://cluster.local/ns/kafka/sa/admin";

  private KafkaTestBroker() {}

  /**
   * A broker whose listeners' TLS the registration {@code source} serves, the broker and
   * {@link #ADMIN_ID} as super users, a fatal broker error failing the test; {@code extra} settings win.
   */
  static KafkaKraftBroker start(String source, Map<String, String> extra) throws Exception {
    return KafkaKraftBroker.builder(KafkaMtls.brokerConfig(source))
        .superUsers("User:" + BROKER_ID, "User:" + ADMIN_ID).config(extra).failOnFatalError().start();
  }
}
