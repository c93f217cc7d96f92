package dev.kubemtls.samples.kafka;

import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A consumer on the pod's kube-mtls identity: reads KAFKA_TOPIC in group KAFKA_GROUP on one
 * long-lived consumer until it has read the producer's end record ({@link KafkaProducerSample}), or
 * for at most DEMO_DURATION_SECONDS plus KAFKA_DRAIN_SECONDS (90 unless set). It checks what it reads:
 * a message read twice counts as a duplicate, a record that is not one of the producer's as unexpected.
 * Reports {@code stats received=<n>} every second and, at the end,
 * {@code kafka_done received=<n> duplicates=<n> unexpected=<n> missing=<n> end=<true|false>}, where
 * missing counts the messages before the end record that never arrived. Exits 1 if the end record
 * did not arrive. See {@link KafkaSampleSupport} for the environment.
 */
public final class KafkaConsumerSample {

  private KafkaConsumerSample() {}

  public static void main(String[] args) throws Exception {
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"))
        + Long.parseLong(SampleSupport.env("KAFKA_DRAIN_SECONDS", "90"));
    long received = 0;
    long duplicates = 0;
    long unexpected = 0;
    long expected = -1;
    BitSet seen = new BitSet();
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
        while (expected < 0 && System.nanoTime() < end) {
          for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
            String value = r.value() == null ? "" : r.value();
            if (value.startsWith(KafkaProducerSample.END)) {
              expected = parse(value.substring(KafkaProducerSample.END.length()));
              continue;
            }
            long n = value.startsWith("message ") ? parse(value.substring("message ".length())) : -1;
            if (n < 0 || n > Integer.MAX_VALUE) {
              unexpected++;
              DemoEvents.emit("kafka_unexpected", "offset=" + r.offset());
            } else if (seen.get((int) n)) {
              duplicates++;
              DemoEvents.emit("kafka_duplicate", "message=" + n, "offset=" + r.offset());
            } else {
              seen.set((int) n);
              received++;
            }
          }
          if (System.nanoTime() >= nextStats) {
            DemoEvents.emit("stats", "received=" + received);
            nextStats += TimeUnit.SECONDS.toNanos(1);
          }
        }
        consumer.commitSync(Duration.ofSeconds(30));
      }
    }
    long missing = expected < 0 ? 0 : expected - seen.get(0, (int) Math.min(expected, Integer.MAX_VALUE)).cardinality();
    DemoEvents.emit("kafka_done", "received=" + received, "duplicates=" + duplicates, "unexpected=" + unexpected,
        "missing=" + missing, "end=" + (expected >= 0));
    if (expected < 0) {
      System.err.println("the consumer did not read the producer's end record within " + seconds + "s");
      System.exit(1);
    }
  }

  private static long parse(String digits) {
    try {
      return Long.parseLong(digits.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
