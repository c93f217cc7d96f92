package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.signer.it.ShortLivedSigner.Workload;
import dev.kubemtls.testkit.KafkaKraftBroker;
import dev.kubemtls.testkit.TestCa;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka with certificates from our signer on the real control plane: a broker, a producer, a
 * consumer and an admin workload get 20-second certificates; a long-lived producer and consumer and
 * producers and admin clients on new connections run without a failure while every workload renews
 * at least three times and the signer rotates its CA; every acknowledged message is consumed once.
 * Then kcat produces with the producer workload's signer-issued certificate.
 *
 * <p>The workloads' certificates name their Service and a pod IP that is not on this machine, so the
 * clients, which dial the broker on loopback, identify it by its SPIFFE ID ({@code PeerPolicy})
 * with Kafka's hostname check off; the other ITs check the hostname.
 */
class KafkaSignerRotationIT {

  private static final Duration STEP = Duration.ofSeconds(30);
  private static final String TOPIC = "signed";
  private static final String GROUP = "signed-readers";
  private static final int WORKERS = 4;

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final List<String> acked = new CopyOnWriteArrayList<>();
  private final List<String> consumed = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLongArray completed = new AtomicLongArray(WORKERS);

  @TempDir
  Path dir;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void kafkaSurvivesSignerRenewalsAndACaRotationUnderLoad() throws Exception {
    long started = System.nanoTime();
    try (ShortLivedSigner signer = new ShortLivedSigner("kafka-it")) {
      String ns = signer.namespace("kafka-it");
      Workload broker = signer.workload(ns, "broker");
      Workload producerW = signer.workload(ns, "producer");
      Workload consumerW = signer.workload(ns, "consumer");
      Workload adminW = signer.workload(ns, "admin");
      PeerPolicy onlyTheBroker = PeerPolicy.builder().allowServiceAccount(ns, "broker").build();
      ExecutorService load = Executors.newFixedThreadPool(WORKERS);
      try (KafkaMtls.Registration b = KafkaMtls.register("signed-broker", broker.mtls());
          KafkaMtls.Registration p = KafkaMtls.source("signed-producer", producerW.mtls()).peerPolicy(onlyTheBroker).register();
          KafkaMtls.Registration c = KafkaMtls.source("signed-consumer", consumerW.mtls()).peerPolicy(onlyTheBroker).register();
          KafkaMtls.Registration a = KafkaMtls.source("signed-admin", adminW.mtls()).peerPolicy(onlyTheBroker).register();
          KafkaKraftBroker kafka = KafkaBroker.start(b.name(), Map.of(
              "super.users", "User:" + broker.spiffeId() + ";User:" + adminW.spiffeId(),
              "ssl.endpoint.identification.algorithm", ""))) {
        String bootstrap = kafka.bootstrap();
        try (Admin admin = Admin.create(config(a, bootstrap))) {
          Clients.setUpTopic(admin, TOPIC, producerW.spiffeId(), consumerW.spiffeId(), GROUP);
        }
        KafkaProducer<String, String> longLived = Clients.producer(p.name(), bootstrap, noHostname());
        KafkaConsumer<String, String> consumer = consumer(c, bootstrap);
        consumer.subscribe(List.of(TOPIC));
        AtomicBoolean stopConsumer = new AtomicBoolean();
        try {
          List<Future<?>> senders = List.of(
              load.submit(() -> produce(longLived, "long-", 0)),
              load.submit(() -> newProducers(p.name(), bootstrap)),
              load.submit(() -> newAdmins(a, bootstrap)));
          Future<?> consuming = load.submit(() -> consume(consumer, stopConsumer));
          awaitProgress();

          CertificateAuthority next = signer.renewAndRotateCa(3, STEP);
          awaitProgress();
          awaitProgress();
          assertThat(ShortLivedSigner.issuedBy(broker.mtls().current(), next.certificate())).isTrue();

          stop.set(true);
          for (Future<?> f : senders) {
            f.get(STEP.toSeconds(), TimeUnit.SECONDS);
          }
          await().atMost(STEP.multipliedBy(2)).until(() -> !failures.isEmpty() || consumed.size() >= acked.size());
          stopConsumer.set(true);
          consuming.get(STEP.toSeconds(), TimeUnit.SECONDS);

          System.out.printf("kube-mtls Kafka signer IT: renewals broker %d, producer %d, consumer %d, admin %d;"
                  + " CA changes %s; sends acknowledged %d (long-lived %d, new producers %d), failed %d,"
                  + " consumed %d (%d distinct), admin calls on new connections %d, %d s%n",
              broker.events.rotations.get(), producerW.events.rotations.get(), consumerW.events.rotations.get(),
              adminW.events.rotations.get(), signer.caChanges, acked.size(), completed.get(0), completed.get(1),
              failures.size(), consumed.size(), new HashSet<>(consumed).size(), completed.get(2),
              Duration.ofNanos(System.nanoTime() - started).toSeconds());
          assertThat(failures).isEmpty();
          assertThat(signer.problems()).isEmpty();
          for (Workload w : List.of(broker, producerW, consumerW, adminW)) {
            assertThat(w.events.rotations.get()).as(w.serviceAccount + " renewals").isGreaterThanOrEqualTo(3);
          }
          assertThat(consumed).containsExactlyInAnyOrderElementsOf(acked);
        } finally {
          stop.set(true);
          stopConsumer.set(true);
          load.shutdownNow();
          load.awaitTermination(30, TimeUnit.SECONDS);
          longLived.close(Duration.ofSeconds(10));
          consumer.close();
        }

        // A peer not written in Java, with the producer workload's certificate from our signer.
        MtlsMaterial m = producerW.mtls().current();
        Path key = Files.writeString(dir.resolve("producer.key"), TestCa.toPem(m.identity().privateKey()));
        Path cert = Files.writeString(dir.resolve("producer.crt"), Pem.encodeCertificates(m.identity().chain()));
        Path ca = Files.writeString(dir.resolve("ca.crt"), Pem.encodeCertificates(m.trust().certificates()));
        String value = "kcat-signed-" + System.nanoTime();
        Process kcat = new ProcessBuilder("/usr/bin/kcat", "-P", "-b", bootstrap, "-t", TOPIC,
            "-X", "security.protocol=ssl", "-X", "ssl.key.location=" + key,
            "-X", "ssl.certificate.location=" + cert, "-X", "ssl.ca.location=" + ca,
            "-X", "ssl.endpoint.identification.algorithm=none")
            .redirectErrorStream(true).start();
        kcat.getOutputStream().write((value + "\n").getBytes(StandardCharsets.UTF_8));
        kcat.getOutputStream().close();
        String out = new String(kcat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(kcat.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(kcat.exitValue()).as("kcat output: %s", out).isZero();
        Set<String> seen = new HashSet<>();
        try (KafkaConsumer<String, String> check = consumer(c, bootstrap, GROUP + "-kcat")) {
          check.subscribe(List.of(TOPIC));
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
          while (!seen.contains(value) && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, String> r : check.poll(Clients.poll())) {
              seen.add(r.value());
            }
          }
        }
        assertThat(seen).contains(value);
      }
    }
  }

  private static Map<String, Object> noHostname() {
    return Map.of("ssl.endpoint.identification.algorithm", "");
  }

  private static Map<String, Object> config(KafkaMtls.Registration r, String bootstrap) {
    Map<String, Object> config = new HashMap<>(Clients.base(r.name(), bootstrap));
    config.putAll(noHostname());
    config.put("default.api.timeout.ms", "60000");
    return config;
  }

  private static KafkaConsumer<String, String> consumer(KafkaMtls.Registration r, String bootstrap) {
    return consumer(r, bootstrap, GROUP);
  }

  private static KafkaConsumer<String, String> consumer(KafkaMtls.Registration r, String bootstrap, String group) {
    Map<String, Object> config = config(r, bootstrap);
    config.put("group.id", group);
    config.put("auto.offset.reset", "earliest");
    config.put("enable.auto.commit", "false");
    return new KafkaConsumer<>(config, new org.apache.kafka.common.serialization.StringDeserializer(),
        new org.apache.kafka.common.serialization.StringDeserializer());
  }

  private void awaitProgress() {
    long[] before = new long[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
      before[w] = completed.get(w);
    }
    await().atMost(STEP.multipliedBy(2)).until(() -> {
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

  private void produce(KafkaProducer<String, String> producer, String prefix, int worker) {
    long n = 0;
    while (!stop.get()) {
      String value = prefix + n++;
      try {
        producer.send(new ProducerRecord<>(TOPIC, value)).get(90, TimeUnit.SECONDS);
        acked.add(value);
        completed.incrementAndGet(worker);
      } catch (Exception e) {
        failures.add(value + ": " + KafkaMtlsIT.messages(e));
      }
    }
  }

  private void newProducers(String registration, String bootstrap) {
    long n = 0;
    while (!stop.get()) {
      String value = "fresh-" + n++;
      try (KafkaProducer<String, String> producer = Clients.producer(registration, bootstrap, noHostname())) {
        producer.send(new ProducerRecord<>(TOPIC, value)).get(90, TimeUnit.SECONDS);
        acked.add(value);
        completed.incrementAndGet(1);
      } catch (Exception e) {
        failures.add(value + ": " + KafkaMtlsIT.messages(e));
      }
    }
  }

  private void newAdmins(KafkaMtls.Registration r, String bootstrap) {
    long n = 0;
    while (!stop.get()) {
      try (Admin admin = Admin.create(config(r, bootstrap))) {
        admin.describeTopics(List.of(TOPIC)).allTopicNames().get(90, TimeUnit.SECONDS);
        completed.incrementAndGet(2);
      } catch (Exception e) {
        failures.add("admin-" + n + ": " + KafkaMtlsIT.messages(e));
      }
      n++;
    }
  }

  private void consume(KafkaConsumer<String, String> consumer, AtomicBoolean stopConsumer) {
    Set<String> seen = new HashSet<>();
    while (!stopConsumer.get()) {
      try {
        for (ConsumerRecord<String, String> r : consumer.poll(Clients.poll())) {
          if (!seen.add(r.value())) {
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
