package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.testkit.KafkaKraftBroker;
import dev.kubemtls.testkit.TestCa;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real KRaft broker whose listeners run on {@link MtlsSslEngineFactory} with ACLs on: clients named
 * by their SPIFFE IDs produce and consume; a client without a certificate, with one from a foreign
 * CA, with an expired one or with a SPIFFE ID no ACL names is refused, and says why; a client whose
 * PeerPolicy does not name the broker refuses it; kcat (librdkafka) produces with a certificate from
 * the same CA.
 */
class KafkaMtlsIT {

  private static final String TOPIC = "orders";
  private static final String GROUP = "order-readers";
  private static final String PRODUCER_ID = "spiffe://cluster.local/ns/shop/sa/producer";
  private static final String CONSUMER_ID = "spiffe://cluster.local/ns/shop/sa/consumer";
  private static final String KCAT_ID = "spiffe://cluster.local/ns/shop/sa/kcat";

  private static TestCa ca;
  private static TrustBundle trust;
  private static final List<AutoCloseable> closeables = new ArrayList<>();
  private static KafkaKraftBroker broker;

  @BeforeAll
  static void startBroker() throws Exception {
    ca = TestCa.create("cluster CA");
    trust = Pki.trust("v1", ca);
    closeables.add(KafkaMtls.register("it-broker",
        new MaterialPublisher(Pki.material(Pki.broker(ca, 1), trust))));
    broker = KafkaBroker.start("it-broker", Map.of());
    register("it-admin", Pki.identity(ca, 1, b -> b.spiffe("kafka", "admin").usages(false, true)));
    register("it-producer", Pki.client(ca, 1, "shop", "producer"));
    register("it-consumer", Pki.client(ca, 1, "shop", "consumer"));
    register("it-intruder", Pki.client(ca, 1, "shop", "intruder"));
    try (Admin admin = Clients.admin("it-admin", broker.bootstrap())) {
      Clients.setUpTopic(admin, TOPIC, PRODUCER_ID, CONSUMER_ID, GROUP);
      admin.createAcls(List.of(Clients.allow(new ResourcePattern(ResourceType.TOPIC, TOPIC, PatternType.LITERAL),
          KCAT_ID, AclOperation.WRITE))).all().get(60, TimeUnit.SECONDS);
    }
  }

  private static void register(String name, TlsIdentity identity) {
    closeables.add(KafkaMtls.source(name, new MaterialPublisher(Pki.material(identity, trust)))
        .peerPolicy(PeerPolicy.builder().allowServiceAccount("kafka", "broker").build())
        .register());
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (broker != null) {
      broker.close();
    }
    for (AutoCloseable c : closeables) {
      c.close();
    }
  }

  @Test
  void workloadsProduceAndConsumeAsTheirSpiffeIds() throws Exception {
    List<String> sent = new ArrayList<>();
    try (KafkaProducer<String, String> producer = Clients.producer("it-producer", broker.bootstrap(), Map.of())) {
      for (int i = 0; i < 20; i++) {
        String value = "order-" + i;
        producer.send(new ProducerRecord<>(TOPIC, value)).get(60, TimeUnit.SECONDS);
        sent.add(value);
      }
    }
    List<String> received = consumeAll("it-consumer", GROUP, sent.size());
    assertThat(received).containsSubsequence(sent);
    System.out.printf("kube-mtls Kafka IT: sent %d, consumed %d%n", sent.size(), received.size());

    try (Admin admin = Clients.admin("it-admin", broker.bootstrap())) {
      assertThat(admin.describeAcls(AclBindingFilter.ANY).values().get(30, TimeUnit.SECONDS))
          .anySatisfy(acl -> {
            assertThat(acl.entry().principal()).isEqualTo("User:" + PRODUCER_ID);
            assertThat(acl.entry().operation()).isEqualTo(AclOperation.WRITE);
          });
    }
  }

  @Test
  void principalBuilderNamesTheSpiffeId() {
    TlsIdentity producer = Pki.client(ca, 1, "shop", "producer");
    assertThat(SpiffePrincipalBuilder.principalOf(producer.leaf()))
        .isEqualTo(new KafkaPrincipal("User", PRODUCER_ID));
    assertThat(SpiffePrincipalBuilder.principalOf(producer.leaf()).toString()).isEqualTo("User:" + PRODUCER_ID);

    TlsIdentity plain = Pki.identity(ca, 1, b -> b.commonName("legacy").dns("legacy.shop.svc"));
    assertThatThrownBy(() -> SpiffePrincipalBuilder.principalOf(plain.leaf()))
        .isInstanceOf(SslAuthenticationException.class)
        .hasMessageContaining("carries no SPIFFE ID").hasMessageContaining("CN=legacy");
    TlsIdentity two = Pki.identity(ca, 1, b -> b.spiffe("shop", "a").spiffe("shop", "b"));
    assertThatThrownBy(() -> SpiffePrincipalBuilder.principalOf(two.leaf()))
        .isInstanceOf(SslAuthenticationException.class).hasMessageContaining("2 URI identities");
  }

  @Test
  void aSpiffeIdNoAclNamesIsRefusedByTheAuthorizer() {
    try (KafkaProducer<String, String> producer = Clients.producer("it-intruder", broker.bootstrap(),
        Map.of("max.block.ms", "15000"))) {
      assertThatThrownBy(() -> producer.send(new ProducerRecord<>(TOPIC, "forged")).get(60, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .cause().isInstanceOf(TopicAuthorizationException.class)
          .hasMessageContaining("Not authorized to access topics: [" + TOPIC + "]");
    }
  }

  @Test
  void aClientWithoutCertificateIsRefused() {
    // The broker requires a certificate: TLS 1.3 lets the client finish, then the broker's alert arrives.
    assertRefused(kafkaPemClient(null), "no client certificate", "bad_certificate");
  }

  @Test
  void aClientOfAForeignCaIsRefused() {
    TestCa foreign = TestCa.create("foreign CA");
    TlsIdentity id = Pki.client(foreign, 1, "shop", "producer");
    assertRefused(kafkaPemClient(id), "foreign CA", "bad_certificate");
  }

  @Test
  void aClientWithAnExpiredCertificateIsRefused() {
    TlsIdentity expired = Pki.identity(ca, 1, b -> b.spiffe("shop", "producer").usages(false, true)
        .validity(Instant.now().minus(Duration.ofHours(2)), Duration.ofHours(1)));
    assertRefused(kafkaPemClient(expired), "expired certificate", "certificate_unknown");
  }

  @Test
  void aClientRefusesABrokerItsPeerPolicyDoesNotName() throws Exception {
    try (KafkaMtls.Registration r = KafkaMtls.source("it-picky",
            new MaterialPublisher(Pki.material(Pki.client(ca, 1, "shop", "producer"), trust)))
        .peerPolicy(PeerPolicy.builder().allowServiceAccount("kafka", "other-broker").build())
        .register();
        Admin admin = Clients.admin(r.name(), broker.bootstrap())) {
      assertThatThrownBy(() -> admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS))
          .cause().isInstanceOf(SslAuthenticationException.class)
          .satisfies(e -> assertThat(messages(e)).contains(Pki.BROKER_ID));
    }
  }

  @Test
  void aCertificateWithoutSpiffeIdGetsNoPrincipalEvenWhereTheHandshakeAllowsIt() throws Exception {
    // A listener whose PeerPolicy lets any certificate of the CA through: the principal builder is
    // then what refuses a certificate that names no workload.
    try (KafkaMtls.Registration open = KafkaMtls.source("it-open-broker",
            new MaterialPublisher(Pki.material(Pki.broker(ca, 1), trust)))
        .peerPolicy(PeerPolicy.allowAll()).register();
        KafkaKraftBroker openBroker = KafkaBroker.start(open.name(), Map.of())) {
      TlsIdentity legacy = Pki.identity(ca, 1, b -> b.commonName("legacy").dns("legacy.shop.svc").usages(false, true));
      Map<String, Object> c = kafkaPemClient(legacy);
      c.put("bootstrap.servers", openBroker.bootstrap());
      c.put("default.api.timeout.ms", "10000");
      c.put("request.timeout.ms", "5000");
      try (Admin admin = Admin.create(c)) {
        assertThatThrownBy(() -> admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS))
            // The broker closes the connection after the handshake (and logs why); the client sees
            // no answer to its requests.
            .isInstanceOf(ExecutionException.class)
            .cause().isInstanceOf(org.apache.kafka.common.errors.TimeoutException.class)
            .satisfies(e -> System.out.println("kube-mtls Kafka IT: certificate without SPIFFE ID: " + messages(e)));
      }
      // The same listener serves a workload certificate.
      Map<String, Object> ok = kafkaPemClient(Pki.client(ca, 1, "shop", "producer"));
      ok.put("bootstrap.servers", openBroker.bootstrap());
      try (Admin admin = Admin.create(ok)) {
        assertThat(admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS)).isNotEmpty();
      }
    }
  }

  @Test
  void kcatProducesWithACertificateFromTheSameCa(@TempDir Path dir) throws Exception {
    Path kcat = Path.of("/usr/bin/kcat");
    assertThat(Files.isExecutable(kcat))
        .as("kcat (librdkafka) must be installed: scripts/install-prereqs.sh installs it").isTrue();
    TlsIdentity id = Pki.client(ca, 1, "shop", "kcat");
    Path key = Files.writeString(dir.resolve("kcat.key"), TestCa.toPem(id.privateKey()));
    Path cert = Files.writeString(dir.resolve("kcat.crt"), TestCa.toPem(id.leaf()));
    Path caFile = Files.writeString(dir.resolve("ca.crt"), ca.certificatePem());
    String value = "from-kcat-" + System.nanoTime();
    Process p = new ProcessBuilder(kcat.toString(), "-P", "-b", broker.bootstrap(), "-t", TOPIC,
        "-X", "security.protocol=ssl",
        "-X", "ssl.key.location=" + key,
        "-X", "ssl.certificate.location=" + cert,
        "-X", "ssl.ca.location=" + caFile,
        "-X", "ssl.endpoint.identification.algorithm=https")
        .redirectErrorStream(true).start();
    p.getOutputStream().write((value + "\n").getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("kcat output: %s", out).isZero();
    assertThat(consumeUntil("it-consumer", GROUP + "-kcat", value)).contains(value);

    // The same kcat with a certificate of a foreign CA is refused.
    TlsIdentity foreign = Pki.client(TestCa.create("foreign CA"), 1, "shop", "kcat");
    Files.writeString(key, TestCa.toPem(foreign.privateKey()));
    Files.writeString(cert, TestCa.toPem(foreign.leaf()));
    Process refused = new ProcessBuilder(kcat.toString(), "-L", "-b", broker.bootstrap(), "-m", "10",
        "-X", "security.protocol=ssl", "-X", "ssl.key.location=" + key,
        "-X", "ssl.certificate.location=" + cert, "-X", "ssl.ca.location=" + caFile)
        .redirectErrorStream(true).start();
    String refusedOut = new String(refused.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(refused.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(refused.exitValue()).as("kcat output: %s", refusedOut).isNotZero();
    System.out.println("kube-mtls Kafka IT: kcat with a foreign CA: " + refusedOut.strip());
  }

  /** A Kafka client on Kafka's own PEM settings (no kube-mtls), trusting the cluster CA. */
  private static Map<String, Object> kafkaPemClient(TlsIdentity identity) {
    Map<String, Object> c = new HashMap<>();
    c.put("bootstrap.servers", broker.bootstrap());
    c.put("security.protocol", "SSL");
    c.put("ssl.truststore.type", "PEM");
    c.put("ssl.truststore.certificates", ca.certificatePem());
    if (identity != null) {
      c.put("ssl.keystore.type", "PEM");
      c.put("ssl.keystore.key", TestCa.toPem(identity.privateKey()));
      c.put("ssl.keystore.certificate.chain", TestCa.toPem(identity.leaf()));
    }
    c.put("default.api.timeout.ms", "30000");
    c.put("reconnect.backoff.ms", "500");
    c.put("reconnect.backoff.max.ms", "1000");
    return c;
  }

  /** The client's error is an SSL authentication failure carrying the broker's TLS alert. */
  private static void assertRefused(Map<String, Object> config, String what, String alert) {
    try (Admin admin = Admin.create(config)) {
      assertThatThrownBy(() -> admin.describeCluster().clusterId().get(60, TimeUnit.SECONDS))
          .as(what).cause().isInstanceOf(SslAuthenticationException.class)
          .satisfies(e -> {
            System.out.println("kube-mtls Kafka IT: " + what + " refused: " + messages(e));
            assertThat(messages(e)).contains("Received fatal alert: " + alert);
          });
    }
  }

  static String messages(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      b.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage()).append(" / ");
    }
    return b.toString();
  }

  private static List<String> consumeAll(String registration, String group, int count) {
    List<String> received = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = Clients.consumer(registration, broker.bootstrap(), group)) {
      consumer.subscribe(List.of(TOPIC));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (received.size() < count && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Clients.poll())) {
          received.add(r.value());
        }
      }
      consumer.commitSync();
    }
    return received;
  }

  private static List<String> consumeUntil(String registration, String group, String wanted) {
    List<String> received = new ArrayList<>();
    try (KafkaConsumer<String, String> consumer = Clients.consumer(registration, broker.bootstrap(), group)) {
      consumer.subscribe(List.of(TOPIC));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (!received.contains(wanted) && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Clients.poll())) {
          received.add(r.value());
        }
      }
    }
    return received;
  }

}
