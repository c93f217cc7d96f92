package dev.kubemtls.samples.kafka;

import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A consumer on the pod's kube-mtls identity: reads KAFKA_TOPIC in group KAFKA_GROUP for
 * DEMO_DURATION_SECONDS and reports {@code stats received=<n>} every second and
 * {@code traffic_done received=<n>} at the end. See {@link KafkaSampleSupport} for the environment.
 */
public final class KafkaConsumerSample {

  private KafkaConsumerSample() {}

  public static void main(String[] args) throws Exception {
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    long received = 0;
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        KafkaMtls.Registration registration = KafkaSampleSupport.register(certificates)) {
      Map<String, Object> config = KafkaSampleSupport.clientConfig(registration);
      config.put("group.id", SampleSupport.env("KAFKA_GROUP", "kafka-sample"));
      config.put("auto.offset.reset", "earliest");
      String topic = KafkaSampleSupport.topic();
      try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config, new StringDeserializer(),
          new StringDeserializer())) {
        consumer.subscribe(List.of(topic));
        DemoEvents.emit("ready", "topic=" + topic);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long nextStats = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (System.nanoTime() < end) {
          received += consumer.poll(Duration.ofMillis(500)).count();
          if (System.nanoTime() >= nextStats) {
            DemoEvents.emit("stats", "received=" + received);
            nextStats += TimeUnit.SECONDS.toNanos(1);
          }
        }
      }
    }
    DemoEvents.emit("traffic_done", "received=" + received);
  }
}
