package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kafka.MtlsSslEngineFactory;
import dev.kubemtls.testkit.KafkaKraftBroker;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaAdmin;
import org.springframework.kafka.core.KafkaTemplate;

/**
 * A Spring Boot application with {@code spring.kafka.ssl.bundle=kube-mtls} against a real KRaft
 * broker with an mTLS listener and ACLs: its KafkaTemplate, consumers and KafkaAdmin present the
 * starter's certificate, and after the application's certificate and the CA are rotated (the old
 * CA leaves the broker's trust) its new connections present the renewed certificate, without a
 * restart.
 */
class SpringKafkaMtlsIT {

  static final String APP_ID = "spiffe://cluster.local/ns/shop/sa/orders";
  static final String TOPIC = "spring-orders";
  static final MaterialPublisher APP = new MaterialPublisher();
  /** The brokers' SPIFFE IDs from the client handshakes the application's {@link TlsListener} bean was told of. */
  static final List<String> BROKERS_SEEN = new CopyOnWriteArrayList<>();

  @Configuration(proxyBeanMethods = false)
  @EnableAutoConfiguration
  static class App {
    @Bean
    MaterialSource testMaterialSource() {
      return APP;
    }

    @Bean
    TlsListener handshakes() {
      return new TlsListener() {
        @Override
        public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol,
            String cipherSuite, Duration took) {
          if (side == Side.CLIENT) {
            BROKERS_SEEN.add(peer.flatMap(PeerIdentity::spiffeId).orElse("(none)"));
          }
        }
      };
    }
  }

  @Test
  void springKafkaClientsUseTheStartersRenewingIdentity() throws Exception {
    TestCa ca1 = TestCa.create("spring kafka CA 1");
    TestCa ca2 = TestCa.create("spring kafka CA 2");
    MaterialPublisher broker = new MaterialPublisher(new MtlsMaterial(brokerIdentity(ca1, 1), trust("v1", ca1), 1));
    MaterialPublisher admin = new MaterialPublisher(new MtlsMaterial(
        identity(ca1, 1, b -> b.spiffe("kafka", "admin").usages(false, true)), trust("v1", ca1), 1));
    APP.publish(new MtlsMaterial(identity(ca1, 1, b -> b.spiffe("shop", "orders").usages(false, true)), trust("v1", ca1), 1));
    try (KafkaMtls.Registration b = KafkaMtls.register("spring-it-broker", broker);
        KafkaMtls.Registration a = KafkaMtls.register("spring-it-admin", admin);
        KafkaKraftBroker kafka = KafkaTestBroker.start(b.name(), Map.of())) {
      Map<String, Object> adminConfig = new java.util.HashMap<>(a.clientConfig());
      adminConfig.put("bootstrap.servers", kafka.bootstrap());
      try (Admin setup = Admin.create(adminConfig)) {
        setup.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
        ResourcePattern topic = new ResourcePattern(ResourceType.TOPIC, TOPIC, PatternType.LITERAL);
        setup.createAcls(List.of(allow(topic, AclOperation.WRITE), allow(topic, AclOperation.READ),
            allow(topic, AclOperation.DESCRIBE),
            allow(new ResourcePattern(ResourceType.GROUP, "spring-", PatternType.PREFIXED), AclOperation.READ)))
            .all().get(60, TimeUnit.SECONDS);
      }
      try (ConfigurableApplicationContext context = new SpringApplicationBuilder(App.class)
          .web(WebApplicationType.NONE)
          .properties(
              "spring.main.banner-mode=off",
              "spring.kafka.bootstrap-servers=" + kafka.bootstrap(),
              "spring.kafka.ssl.bundle=kube-mtls",
              "spring.kafka.consumer.auto-offset-reset=earliest",
              "kube-mtls.kafka.broker-spiffe-ids=" + KafkaTestBroker.BROKER_ID)
          .run()) {
        assertThat(context.getBean(KafkaProperties.class).getSsl().getBundle())
            .as("the starter takes Kafka's SSL over from Spring Boot's fixed bundle").isNull();
        @SuppressWarnings("unchecked")
        KafkaTemplate<String, String> template = context.getBean(KafkaTemplate.class);
        DefaultKafkaProducerFactory<?, ?> producers = context.getBean(DefaultKafkaProducerFactory.class);
        assertThat(producers.getConfigurationProperties())
            .containsEntry("ssl.engine.factory.class", MtlsSslEngineFactory.class.getName())
            .containsEntry(KafkaMtls.SOURCE_CONFIG, "kube-mtls");
        KafkaAdmin kafkaAdmin = context.getBean(KafkaAdmin.class);
        @SuppressWarnings("unchecked")
        ConsumerFactory<String, String> consumers = context.getBean(ConsumerFactory.class);

        template.send(TOPIC, "before-rotation").get(60, TimeUnit.SECONDS);
        assertThat(BROKERS_SEEN).as("Kafka's handshakes reach the application's TlsListener beans")
            .isNotEmpty().containsOnly(KafkaTestBroker.BROKER_ID);
        assertThat(kafkaAdmin.describeTopics(TOPIC)).containsKey(TOPIC);
        assertThat(consume(consumers, "spring-readers-1", 1)).containsExactly("before-rotation");

        // CA rotation with overlap; the application's certificate moves to the new CA; the old CA leaves.
        broker.publish(broker.current().withTrust(trust("v2", ca1, ca2)));
        admin.publish(admin.current().withTrust(trust("v2", ca1, ca2)));
        APP.publish(APP.current().withTrust(trust("v2", ca1, ca2)));
        broker.publish(broker.current().withIdentity(brokerIdentity(ca2, 2)));
        APP.publish(APP.current().withIdentity(identity(ca2, 2, bl -> bl.spiffe("shop", "orders").usages(false, true))));
        broker.publish(broker.current().withTrust(trust("v3", ca2)));
        APP.publish(APP.current().withTrust(trust("v3", ca2)));

        // New connections of the same beans: a new producer, a new admin client, a new consumer.
        producers.reset();
        template.send(TOPIC, "after-rotation").get(60, TimeUnit.SECONDS);
        assertThat(kafkaAdmin.describeTopics(TOPIC)).containsKey(TOPIC);
        assertThat(consume(consumers, "spring-readers-2", 2)).containsExactly("before-rotation", "after-rotation");
        System.out.println("kube-mtls Spring Kafka IT: produced and consumed 2 messages across a CA rotation"
            + " through KafkaTemplate, KafkaAdmin and a ConsumerFactory on spring.kafka.ssl.bundle=kube-mtls");
      }
    }
  }

  private static List<String> consume(ConsumerFactory<String, String> factory, String group, int count) {
    List<String> values = new ArrayList<>();
    try (Consumer<String, String> consumer = factory.createConsumer(group, null)) {
      consumer.subscribe(List.of(TOPIC));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (values.size() < count && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
          values.add(r.value());
        }
      }
    }
    return values;
  }

  private static AclBinding allow(ResourcePattern resource, AclOperation op) {
    return new AclBinding(resource, new AccessControlEntry("User:" + APP_ID, "*", op, AclPermissionType.ALLOW));
  }

  private static TlsIdentity brokerIdentity(TestCa ca, long generation) {
    return identity(ca, generation, b -> b.commonName("broker").spiffe("kafka", "broker").dns("localhost").ip("127.0.0.1"));
  }

  private static TlsIdentity identity(TestCa ca, long generation, UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(spec.apply(ca.leaf(kp.getPublic())).build()), generation);
  }

  private static TrustBundle trust(String version, TestCa... cas) {
    return new TrustBundle(Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }
}
