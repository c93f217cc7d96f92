package dev.kubemtls.kafka;

import dev.kubemtls.testkit.KafkaKraftBroker;
import java.util.Map;

/** The test kit's broker as these tests run it. */
final class KafkaBroker {

  private KafkaBroker() {}

  /**
   * A broker whose listeners' TLS the registration {@code source} serves through
   * {@link MtlsSslEngineFactory}, clients named by {@link SpiffePrincipalBuilder}, nothing allowed
   * without an ACL except to the broker itself and {@link Pki#ADMIN_ID}, a fatal broker error failing
   * the test; {@code extra} settings win.
   */
  static KafkaKraftBroker start(String source, Map<String, String> extra) throws Exception {
    return KafkaKraftBroker.builder(KafkaMtls.brokerConfig(source))
        .superUsers("User:" + Pki.BROKER_ID, "User:" + Pki.ADMIN_ID).config(extra).failOnFatalError().start();
  }
}
