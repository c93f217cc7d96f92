package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.testkit.KafkaKraftBroker;
import dev.kubemtls.testkit.TestCa;
import java.math.BigInteger;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.BiFunction;
import javax.net.ssl.SSLSocket;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * Certificate renewals on the broker and on every client, then a CA rotation with overlap, while a
 * long-lived producer and consumer run, and producers and admin clients on new connections keep
 * coming: no send fails, every acknowledged message is consumed exactly once and as sent, and new
 * connections present the newest broker certificate.
 */
class KafkaRotationUnderLoadIT {

  private static final int RENEWALS = 4;
  private static final String TOPIC = "load";
  private static final String GROUP = "load-readers";
  private static final String PRODUCER_ID = "spiffe://cluster.local/ns/shop/sa/producer";
  private static final String CONSUMER_ID = "spiffe://cluster.local/ns/shop/sa/consumer";
  private static final Duration STEP_TIMEOUT = Duration.ofSeconds(120);
  /** 0 = long-lived producer, 1 = a new producer per message, 2 = a new admin client per call, 3 = the consumer. */
  private static final int WORKERS = 4;

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLongArray completed = new AtomicLongArray(WORKERS);
  private final List<String> acked = new CopyOnWriteArrayList<>();
  private final List<String> consumed = new CopyOnWriteArrayList<>();
  private final List<BigInteger> brokerSerials = new CopyOnWriteArrayList<>();

  @Test
  void renewalsAndACaRotationUnderLoadLoseNoMessage() throws Exception {
    TestCa oldCa = TestCa.create("old CA");
    TestCa newCa = TestCa.create("new CA");
    PeerPolicy onlyTheBroker = PeerPolicy.builder().allowServiceAccount("kafka", "broker").build();
    MaterialPublisher brokerSource = new MaterialPublisher(Pki.material(Pki.broker(oldCa, 1), Pki.trust("v1", oldCa)));
    brokerSerials.add(brokerSource.current().identity().leaf().getSerialNumber());
    Map<String, MaterialPublisher> clientSources = new HashMap<>();
    Map<String, BiFunction<TestCa, Long, TlsIdentity>> clientIds = Map.of(
        "rot-producer", (ca, g) -> Pki.client(ca, g, "shop", "producer"),
        "rot-consumer", (ca, g) -> Pki.client(ca, g, "shop", "consumer"),
        "rot-admin", (ca, g) -> Pki.identity(ca, g, b -> b.spiffe("kafka", "admin").usages(false, true)));
    List<KafkaMtls.Registration> registrations = new ArrayList<>();
    registrations.add(KafkaMtls.register("rot-broker", brokerSource));
    clientIds.forEach((name, id) -> {
      MaterialPublisher source = new MaterialPublisher(Pki.material(id.apply(oldCa, 1L), Pki.trust("v1", oldCa)));
      clientSources.put(name, source);
      registrations.add(KafkaMtls.source(name, source).peerPolicy(onlyTheBroker).register());
    });
    ExecutorService load = Executors.newFixedThreadPool(WORKERS);
    try (KafkaKraftBroker broker = KafkaBroker.start("rot-broker", Map.of())) {
      String bootstrap = broker.bootstrap();
      try (Admin admin = Clients.admin("rot-admin", bootstrap)) {
        Clients.setUpTopic(admin, TOPIC, PRODUCER_ID, CONSUMER_ID, GROUP);
      }
      KafkaProducer<String, String> longLived = Clients.producer("rot-producer", bootstrap, Map.of());
      KafkaConsumer<String, String> consumer = Clients.consumer("rot-consumer", bootstrap, GROUP);
      consumer.subscribe(List.of(TOPIC));
      AtomicBoolean stopConsumer = new AtomicBoolean();
      try {
        List<Future<?>> senders = List.of(
            load.submit(() -> longLivedProducer(longLived)),
            load.submit(() -> newProducers(bootstrap)),
            load.submit(() -> newAdmins(bootstrap)));
        Future<?> consuming = load.submit(() -> consume(consumer, stopConsumer));
        awaitProgress();

        for (int i = 0; i < RENEWALS; i++) {
          publishBroker(brokerSource, brokerSource.current().withIdentity(
              Pki.broker(oldCa, brokerSource.current().identity().generation() + 1)));
          clientSources.forEach((name, source) -> source.publish(source.current().withIdentity(
              clientIds.get(name).apply(oldCa, source.current().identity().generation() + 1))));
          awaitProgress();
          assertNewConnectionsSeeNewestBrokerCertificate(broker, clientSources.get("rot-admin"));
        }
        // CA rotation with overlap: trust both, move every identity to the new CA, trust only it.
        publishAll(brokerSource, clientSources, m -> m.withTrust(Pki.trust("v2", oldCa, newCa)));
        awaitProgress();
        publishBroker(brokerSource, brokerSource.current().withIdentity(
            Pki.broker(newCa, brokerSource.current().identity().generation() + 1)));
        clientSources.forEach((name, source) -> source.publish(source.current().withIdentity(
            clientIds.get(name).apply(newCa, source.current().identity().generation() + 1))));
        awaitProgress();
        publishAll(brokerSource, clientSources, m -> m.withTrust(Pki.trust("v3", newCa)));
        awaitProgress();
        // New connections now work only on the new CA's material, on both sides.
        awaitProgress();
        assertNewConnectionsSeeNewestBrokerCertificate(broker, clientSources.get("rot-admin"));

        stop.set(true);
        for (Future<?> f : senders) {
          f.get(STEP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        }
        // Every send was waited for: the consumer must now see exactly what was acknowledged.
        await().atMost(STEP_TIMEOUT).until(() -> !failures.isEmpty() || consumed.size() >= acked.size());
        stopConsumer.set(true);
        consuming.get(STEP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);

        System.out.printf("kube-mtls Kafka rotation under load: %d broker renewals, %d client renewals each,"
                + " CA rotation with overlap; sends acknowledged %d (long-lived producer %d, new producers %d),"
                + " failed %d, consumed %d, admin calls on new connections %d%n",
            brokerSerials.size() - 1, RENEWALS + 1, acked.size(), completed.get(0), completed.get(1),
            failures.size(), consumed.size(), completed.get(2));
        assertThat(failures).isEmpty();
        assertThat(consumed).hasSameSizeAs(acked);
        assertThat(consumed).containsExactlyInAnyOrderElementsOf(acked);
        // The long-lived producer's messages arrive in the order they were sent.
        assertThat(consumed.stream().filter(v -> v.startsWith("long-")).toList())
            .isEqualTo(acked.stream().filter(v -> v.startsWith("long-")).sorted(
                (a, b) -> Long.compare(Long.parseLong(a.substring(5)), Long.parseLong(b.substring(5)))).toList());
        assertThat(completed.get(1)).isGreaterThanOrEqualTo(2L * (RENEWALS + 4));
      } finally {
        stop.set(true);
        stopConsumer.set(true);
        load.shutdownNow();
        load.awaitTermination(30, TimeUnit.SECONDS);
        longLived.close(Duration.ofSeconds(10));
        consumer.close();
      }
    } finally {
      registrations.forEach(KafkaMtls.Registration::close);
    }
  }

  private void publishBroker(MaterialPublisher source, MtlsMaterial material) {
    brokerSerials.add(material.identity().leaf().getSerialNumber());
    source.publish(material);
  }

  private static void publishAll(MaterialPublisher broker, Map<String, MaterialPublisher> clients,
      java.util.function.UnaryOperator<MtlsMaterial> change) {
    broker.publish(change.apply(broker.current()));
    clients.values().forEach(s -> s.publish(change.apply(s.current())));
  }

  /** A plain JDK TLS client on the admin's current material: the broker presents its newest certificate. */
  private void assertNewConnectionsSeeNewestBrokerCertificate(KafkaKraftBroker broker, MaterialPublisher admin)
      throws Exception {
    try (SSLSocket socket = (SSLSocket) MtlsSslContexts.of(admin.current()).getSocketFactory()
        .createSocket("127.0.0.1", broker.port())) {
      socket.setSSLParameters(MtlsSslContexts.sslParameters());
      socket.startHandshake();
      BigInteger seen = ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
      assertThat(seen).isEqualTo(brokerSerials.get(brokerSerials.size() - 1));
    }
  }

  /** Waits until every worker has completed two more operations after the change. */
  private void awaitProgress() {
    long[] before = new long[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
      before[w] = completed.get(w);
    }
    await().atMost(STEP_TIMEOUT).until(() -> {
      if (!failures.isEmpty()) {
        return true;
      }
      for (int w = 0; w < WORKERS; w++) {
        if (completed.get(w) < before[w] + 2) {
          return false;
        }
      }
      return true;
    });
    assertThat(failures).isEmpty();
  }

  private void longLivedProducer(KafkaProducer<String, String> producer) {
    long n = 0;
    while (!stop.get()) {
      String value = "long-" + n++;
      try {
        producer.send(new ProducerRecord<>(TOPIC, value)).get(90, TimeUnit.SECONDS);
        acked.add(value);
        completed.incrementAndGet(0);
      } catch (Exception e) {
        failures.add(value + ": " + KafkaMtlsIT.messages(e));
      }
    }
  }

  private void newProducers(String bootstrap) {
    long n = 0;
    while (!stop.get()) {
      String value = "fresh-" + n++;
      try (KafkaProducer<String, String> producer = Clients.producer("rot-producer", bootstrap, Map.of())) {
        producer.send(new ProducerRecord<>(TOPIC, value)).get(90, TimeUnit.SECONDS);
        acked.add(value);
        completed.incrementAndGet(1);
      } catch (Exception e) {
        failures.add(value + ": " + KafkaMtlsIT.messages(e));
      }
    }
  }

  private void newAdmins(String bootstrap) {
    long n = 0;
    while (!stop.get()) {
      try (Admin admin = Clients.admin("rot-admin", bootstrap)) {
        admin.describeTopics(List.of(TOPIC)).allTopicNames().get(90, TimeUnit.SECONDS);
        completed.incrementAndGet(2);
      } catch (Exception e) {
        failures.add("admin-" + n + ": " + KafkaMtlsIT.messages(e));
      }
      n++;
    }
  }

  private void consume(KafkaConsumer<String, String> consumer, AtomicBoolean stopConsumer) {
    Map<String, Boolean> seen = new ConcurrentHashMap<>();
    while (!stopConsumer.get()) {
      try {
        for (ConsumerRecord<String, String> r : consumer.poll(Clients.poll())) {
          if (seen.putIfAbsent(r.value(), Boolean.TRUE) != null) {
            failures.add("consumed twice: " + r.value());
          }
          consumed.add(r.value());
          completed.incrementAndGet(3);
        }
        consumer.commitAsync();
      } catch (Exception e) {
        failures.add("consumer: " + KafkaMtlsIT.messages(e));
      }
    }
  }
}
