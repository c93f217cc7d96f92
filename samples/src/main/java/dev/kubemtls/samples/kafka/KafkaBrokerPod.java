package dev.kubemtls.samples.kafka;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kafka.SpiffePrincipalBuilder;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import dev.kubemtls.testkit.KafkaKraftBroker;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.auth.KafkaPrincipal;

/**
 * A single-node Kafka broker in KRaft mode (broker and controller in this process) whose listeners
 * are all mTLS on the pod's kube-mtls identity through {@link KafkaMtls}: its serving certificate
 * renews and the trust bundle changes without a restart, every client must present a certificate
 * of the cluster's CA, and {@link SpiffePrincipalBuilder} names each client {@code User:<spiffe id>}.
 * The StandardAuthorizer allows nothing without an ACL except to the broker itself; at start the
 * broker creates KAFKA_TOPIC and the ACLs that let the ServiceAccounts in
 * KAFKA_CLIENT_SERVICE_ACCOUNTS (comma-separated, of the pod's namespace) write and read it and use
 * consumer groups whose names start with KAFKA_GROUP. Environment: POD_IP (the address to listen
 * on), KAFKA_PORT, KAFKA_CONTROLLER_PORT, and those of {@link SampleSupport#startWorkload}.
 * Prints {@code ready bootstrap=<host:port>} once the topic and ACLs exist. The broker is the test
 * kit's {@link KafkaKraftBroker}, on a temporary log directory removed on exit: a demo broker, not a
 * durable one.
 */
public final class KafkaBrokerPod {

  static final String SOURCE = "kafka-broker";

  private KafkaBrokerPod() {}

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    int port = Integer.parseInt(SampleSupport.env("KAFKA_PORT", "9093"));
    int controllerPort = Integer.parseInt(SampleSupport.env("KAFKA_CONTROLLER_PORT", "9094"));
    String topic = KafkaSampleSupport.topic();
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");
    List<String> clients = Arrays.stream(SampleSupport.env("KAFKA_CLIENT_SERVICE_ACCOUNTS", "").split(","))
        .map(String::trim).filter(s -> !s.isEmpty()).toList();
    String groupPrefix = SampleSupport.env("KAFKA_GROUP", "demo-");
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        // Which clients may do what is the ACLs' business; the handshake only asks for a workload
        // certificate of the cluster's CA (any SPIFFE ID).
        KafkaMtls.Registration registration = KafkaMtls.source(SOURCE, certificates)
            .peerPolicy(PeerPolicy.anySpiffeId()).register()) {
      KafkaPrincipal self = SpiffePrincipalBuilder.principalOf(certificates.current().identity().leaf());
      String trustDomain = URI.create(self.getName()).getHost();
      KafkaKraftBroker broker = KafkaKraftBroker.builder(registration.brokerConfig())
          .host(host).port(port).controllerPort(controllerPort).superUsers(self.toString())
          .config(Map.of("num.network.threads", "2", "num.io.threads", "2", "background.threads", "2",
              "log.segment.bytes", Integer.toString(16 * 1024 * 1024)))
          .start();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          broker.close();
        } catch (IOException e) {
          System.err.println("could not remove the broker's log directory: " + e);
        }
      }, "kafka-broker-shutdown"));
      String bootstrap = broker.bootstrap();
      Map<String, Object> adminConfig = new HashMap<>(registration.clientConfig());
      adminConfig.put("bootstrap.servers", bootstrap);
      try (Admin admin = Admin.create(adminConfig)) {
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(60, TimeUnit.SECONDS);
        List<AclBinding> acls = new ArrayList<>();
        ResourcePattern t = new ResourcePattern(ResourceType.TOPIC, topic, PatternType.LITERAL);
        ResourcePattern groups = new ResourcePattern(ResourceType.GROUP, groupPrefix, PatternType.PREFIXED);
        for (String sa : clients) {
          String principal = "User:spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + sa;
          for (AclOperation op : List.of(AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)) {
            acls.add(allow(t, principal, op));
          }
          acls.add(allow(groups, principal, AclOperation.READ));
        }
        admin.createAcls(acls).all().get(60, TimeUnit.SECONDS);
      }
      DemoEvents.emit("ready", "bootstrap=" + bootstrap, "topic=" + topic, "acls_for=" + String.join(",", clients),
          "super_user=\"" + self + "\"");
      broker.awaitShutdown();
    }
  }

  private static AclBinding allow(ResourcePattern resource, String principal, AclOperation op) {
    return new AclBinding(resource, new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
  }
}
