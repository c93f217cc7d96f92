package dev.kubemtls.samples.kafka;

import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A producer on the pod's kube-mtls identity: one message every 50 ms to KAFKA_TOPIC for
 * DEMO_DURATION_SECONDS on one long-lived producer, whose new connections present the certificate
 * current when they open. Messages are {@code message <n>}, n counting from 0; after the last one
 * the producer sends {@code end of run after <count>}. Reports {@code stats sent=<n> failed=<n>}
 * every second and {@code kafka_done sent=<n> failed=<n>} at the end. See {@link KafkaSampleSupport} for the environment.
 */
public final class KafkaProducerSample {

  /** The value of the last record, followed by the number of messages sent before it. */
  static final String END = "end of run after ";

  private KafkaProducerSample() {}

  public static void main(String[] args) throws Exception {
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    long sent = 0;
    long failed = 0;
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        KafkaMtls.Registration registration = KafkaSampleSupport.register(certificates)) {
      Map<String, Object> config = KafkaSampleSupport.clientConfig(registration);
      config.put("acks", "all");
      config.put("enable.idempotence", "true");
      String topic = KafkaSampleSupport.topic();
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(config, new StringSerializer(),
          new StringSerializer())) {
        DemoEvents.emit("ready", "topic=" + topic);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        long nextStats = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        long n = 0;
        while (System.nanoTime() < end) {
          String value = "message " + n++;
          try {
            producer.send(new ProducerRecord<>(topic, value)).get(30, TimeUnit.SECONDS);
            sent++;
          } catch (Exception e) {
            if (e instanceof InterruptedException) {
              Thread.currentThread().interrupt();
              break;
            }
            failed++;
            DemoEvents.emit("send_failed", "error=\"" + e + "\"");
          }
          if (System.nanoTime() >= nextStats) {
            DemoEvents.emit("stats", "sent=" + sent, "failed=" + failed);
            nextStats += TimeUnit.SECONDS.toNanos(1);
          }
          TimeUnit.MILLISECONDS.sleep(50);
        }
        // The last record says how many came before it, so that a consumer knows when it has read all.
        producer.send(new ProducerRecord<>(topic, END + n)).get(30, TimeUnit.SECONDS);
      }
    }
    DemoEvents.emit("kafka_done", "sent=" + sent, "failed=" + failed);
  }
}
