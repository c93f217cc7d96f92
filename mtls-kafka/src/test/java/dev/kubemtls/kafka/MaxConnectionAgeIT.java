package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.testkit.KafkaKraftBroker;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.junit.jupiter.api.Test;

/**
 * A busy producer with a maximum connection age moves to new material: its connections end at the
 * age and reopen with the current certificate, so it keeps producing after its first CA has left the
 * broker's trust bundle, without a failed send, and every message arrives once.
 */
class MaxConnectionAgeIT {

  private static final String TOPIC = "aged";
  private static final Duration AGE = Duration.ofSeconds(2);

  @Test
  void aBusyProducerMovesToNewMaterialWithinTheMaximumAge() throws Exception {
    TestCa oldCa = TestCa.create("old CA");
    TestCa newCa = TestCa.create("new CA");
    MaterialPublisher brokerSource = new MaterialPublisher(Pki.material(Pki.broker(oldCa, 1), Pki.trust("v1", oldCa, newCa)));
    MaterialPublisher producerSource = new MaterialPublisher(
        Pki.material(Pki.client(oldCa, 1, "shop", "producer"), Pki.trust("v1", oldCa, newCa)));
    MaterialPublisher adminSource = new MaterialPublisher(Pki.material(
        Pki.identity(newCa, 1, b -> b.spiffe("kafka", "admin").usages(false, true)), Pki.trust("v1", oldCa, newCa)));
    PeerPolicy broker = PeerPolicy.builder().allowServiceAccount("kafka", "broker").build();
    List<String> failures = new CopyOnWriteArrayList<>();
    List<String> acked = new CopyOnWriteArrayList<>();
    try (KafkaMtls.Registration b = KafkaMtls.register("age-broker", brokerSource);
        KafkaMtls.Registration p = KafkaMtls.source("age-producer", producerSource).peerPolicy(broker)
            .maxConnectionAge(AGE).register();
        KafkaMtls.Registration a = KafkaMtls.source("age-admin", adminSource).peerPolicy(broker).register();
        KafkaKraftBroker kafka = KafkaBroker.start(b.name(), Map.of())) {
      try (Admin admin = Clients.admin(a.name(), kafka.bootstrap())) {
        Clients.setUpTopic(admin, TOPIC, "spiffe://cluster.local/ns/shop/sa/producer", Pki.ADMIN_ID, TOPIC);
      }
      AtomicBoolean stop = new AtomicBoolean();
      try (KafkaProducer<String, String> producer = Clients.producer(p.name(), kafka.bootstrap(), Map.of())) {
        CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
          long n = 0;
          while (!stop.get()) {
            String value = "m-" + n++;
            try {
              producer.send(new ProducerRecord<>(TOPIC, value)).get(90, TimeUnit.SECONDS);
              acked.add(value);
            } catch (Exception e) {
              failures.add(value + ": " + KafkaMtlsIT.messages(e));
            }
          }
        });
        double before = metric(producer, "connection-creation-total");
        await().atMost(Duration.ofSeconds(60)).until(() -> metric(producer, "connection-creation-total") >= before + 2);
        // Renew the producer under the new CA, then drop the old CA from the broker's trust: the
        // busy connection made with the old certificate would otherwise live on.
        producerSource.publish(producerSource.current().withIdentity(Pki.client(newCa, 2, "shop", "producer")));
        brokerSource.publish(brokerSource.current().withTrust(Pki.trust("v2", newCa)).withIdentity(Pki.broker(newCa, 2)));
        producerSource.publish(producerSource.current().withTrust(Pki.trust("v2", newCa)));
        double afterRotation = metric(producer, "connection-creation-total");
        int ackedAfterRotation = acked.size();
        await().atMost(Duration.ofSeconds(60)).until(() -> !failures.isEmpty()
            || metric(producer, "connection-creation-total") >= afterRotation + 3 && acked.size() > ackedAfterRotation + 50);
        stop.set(true);
        sending.get(120, TimeUnit.SECONDS);
        System.out.printf("kube-mtls Kafka max connection age %s: %d sends acknowledged, %d failed, %.0f connections"
            + " opened, %.0f closed%n", AGE, acked.size(), failures.size(),
            metric(producer, "connection-creation-total"), metric(producer, "connection-close-total"));
        assertThat(failures).isEmpty();
      }
      // Every acknowledged message arrives exactly once.
      List<String> consumed = new ArrayList<>();
      try (KafkaConsumer<String, String> consumer = Clients.consumer(a.name(), kafka.bootstrap(), TOPIC + "-check")) {
        consumer.subscribe(List.of(TOPIC));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (consumed.size() < acked.size() && System.nanoTime() < deadline) {
          for (ConsumerRecord<String, String> r : consumer.poll(Clients.poll())) {
            consumed.add(r.value());
          }
        }
      }
      Set<String> distinct = new HashSet<>(consumed);
      System.out.printf("kube-mtls Kafka max connection age: consumed %d (%d distinct) of %d acknowledged%n",
          consumed.size(), distinct.size(), acked.size());
      assertThat(consumed).isEqualTo(acked);
    }
  }

  private static double metric(KafkaProducer<?, ?> producer, String name) {
    for (Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
      if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) {
        return ((Number) e.getValue().metricValue()).doubleValue();
      }
    }
    throw new AssertionError("no producer metric " + name);
  }
}
