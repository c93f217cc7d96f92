package dev.kubemtls.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Kafka clients of the tests, each on a kube-mtls registration. */
final class Clients {

  private Clients() {}

  static Map<String, Object> base(String registration, String bootstrap) {
    Map<String, Object> c = new HashMap<>(KafkaMtls.clientConfig(registration));
    c.put("bootstrap.servers", bootstrap);
    // Refusals are final: no reconnect storm while a test waits for the error.
    c.put("reconnect.backoff.ms", "200");
    c.put("reconnect.backoff.max.ms", "1000");
    return c;
  }

  static Admin admin(String registration, String bootstrap) {
    Map<String, Object> c = base(registration, bootstrap);
    c.put("default.api.timeout.ms", "30000");
    c.put("request.timeout.ms", "20000");
    return Admin.create(c);
  }

  static KafkaProducer<String, String> producer(String registration, String bootstrap, Map<String, Object> extra) {
    Map<String, Object> c = base(registration, bootstrap);
    c.put("acks", "all");
    c.put("enable.idempotence", "true");
    c.put("delivery.timeout.ms", "60000");
    c.put("request.timeout.ms", "20000");
    c.put("max.block.ms", "30000");
    c.put("linger.ms", "0");
    c.putAll(extra);
    return new KafkaProducer<>(c, new StringSerializer(), new StringSerializer());
  }

  static KafkaConsumer<String, String> consumer(String registration, String bootstrap, String group) {
    Map<String, Object> c = base(registration, bootstrap);
    c.put("group.id", group);
    c.put("auto.offset.reset", "earliest");
    c.put("enable.auto.commit", "false");
    c.put("default.api.timeout.ms", "30000");
    return new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer());
  }

  /** Creates {@code topic} and lets {@code producer} write and {@code consumer} read it (in groups named {@code group*}). */
  static void setUpTopic(Admin admin, String topic, String producer, String consumer, String group) throws Exception {
    admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
    List<AclBinding> acls = new ArrayList<>();
    ResourcePattern t = new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL);
    acls.add(allow(t, producer, AclOperation.WRITE));
    acls.add(allow(t, producer, AclOperation.DESCRIBE));
    acls.add(allow(t, consumer, AclOperation.READ));
    acls.add(allow(t, consumer, AclOperation.DESCRIBE));
    // Prefixed: the consumer may use any group whose name starts with {@code group}.
    acls.add(allow(new ResourcePattern(ResourceType.GROUP, group, PatternType.PREFIXED), consumer, AclOperation.READ));
    admin.createAcls(acls).all().get(60, TimeUnit.SECONDS);
  }

  static AclBinding allow(ResourcePattern resource, String spiffeId, AclOperation op) {
    return new AclBinding(resource, new AccessControlEntry("User:" + spiffeId, "*", op, AclPermissionType.ALLOW));
  }

  static Duration poll() {
    return Duration.ofMillis(500);
  }
}
