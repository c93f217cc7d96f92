package dev.kubemtls.samples.kafka;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.SampleSupport;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * What the Kafka samples share: the pod's identity registered with {@link KafkaMtls} and the client
 * configuration that uses it. Environment: KAFKA_BOOTSTRAP ({@code host:port} of the broker's mTLS
 * listener), KAFKA_TOPIC, KAFKA_BROKER_SERVICE_ACCOUNT ({@code namespace/serviceAccount} of the
 * brokers, whose SPIFFE ID the client accepts; any SPIFFE ID of the trust domain if unset) and
 * KAFKA_MAX_CONNECTION_AGE_SECONDS (0, the default, for none).
 */
final class KafkaSampleSupport {

  static final String SOURCE = "kafka-sample";

  private KafkaSampleSupport() {}

  static KafkaMtls.Registration register(KubeMtls certificates) {
    String broker = SampleSupport.env("KAFKA_BROKER_SERVICE_ACCOUNT", "");
    PeerPolicy peers;
    if (broker.isEmpty()) {
      peers = PeerPolicy.anySpiffeId();
    } else {
      String[] nsSa = broker.split("/", 2);
      if (nsSa.length != 2) {
        throw new IllegalArgumentException("KAFKA_BROKER_SERVICE_ACCOUNT must be namespace/serviceAccount, was '"
            + broker + "'");
      }
      peers = PeerPolicy.builder().allowServiceAccount(nsSa[0], nsSa[1]).build();
    }
    KafkaMtls.Builder builder = KafkaMtls.source(SOURCE, certificates).peerPolicy(peers);
    long age = Long.parseLong(SampleSupport.env("KAFKA_MAX_CONNECTION_AGE_SECONDS", "0"));
    if (age > 0) {
      builder.maxConnectionAge(Duration.ofSeconds(age));
    }
    return builder.register();
  }

  static Map<String, Object> clientConfig(KafkaMtls.Registration registration) {
    String[] bootstrap = SampleSupport.address("KAFKA_BOOTSTRAP");
    Map<String, Object> config = new HashMap<>(registration.clientConfig());
    config.put("bootstrap.servers", bootstrap[0] + ":" + bootstrap[1]);
    return config;
  }

  static String topic() {
    return SampleSupport.env("KAFKA_TOPIC", "orders");
  }
}
