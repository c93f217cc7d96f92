package dev.kubemtls.samples.kafka;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.kafka.KafkaMtls;
import dev.kubemtls.kafka.SpiffePrincipalBuilder;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

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
 * Prints {@code ready bootstrap=<host:port>} once the topic and ACLs exist. The log directory is a
 * temporary directory removed on exit: a demo broker, not a durable one.
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
    Path dir = Files.createTempDirectory("kube-mtls-kafka-");
    try (KubernetesClient client = new KubernetesClientBuilder().build();
        KubeMtls certificates = SampleSupport.startWorkload(client);
        // Which clients may do what is the ACLs' business; the handshake only asks for a workload
        // certificate of the cluster's CA (any SPIFFE ID).
        KafkaMtls.Registration registration = KafkaMtls.source(SOURCE, certificates)
            .peerPolicy(PeerPolicy.anySpiffeId()).register()) {
      KafkaPrincipal self = SpiffePrincipalBuilder.principalOf(certificates.current().identity().leaf());
      String trustDomain = URI.create(self.getName()).getHost();
      KafkaRaftServer server = start(dir, host, port, controllerPort, self, registration);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        server.shutdown();
        server.awaitShutdown();
        deleteTree(dir);
      }, "kafka-broker-shutdown"));
      String bootstrap = host + ":" + port;
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
      server.awaitShutdown();
    } finally {
      deleteTree(dir);
    }
  }

  private static AclBinding allow(ResourcePattern resource, String principal, AclOperation op) {
    return new AclBinding(resource, new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
  }

  /** Formats {@code dir} for a new cluster and starts the broker on it; throws saying why if it cannot. */
  private static KafkaRaftServer start(Path dir, String host, int port, int controllerPort, KafkaPrincipal self,
      KafkaMtls.Registration registration) throws Exception {
    Map<String, Object> p = new HashMap<>();
    p.put("process.roles", "broker,controller");
    p.put("node.id", "1");
    p.put("controller.quorum.voters", "1@" + host + ":" + controllerPort);
    p.put("listeners", "MTLS://" + host + ":" + port + ",CONTROLLER://" + host + ":" + controllerPort);
    p.put("advertised.listeners", "MTLS://" + host + ":" + port);
    p.put("listener.security.protocol.map", "MTLS:SSL,CONTROLLER:SSL");
    p.put("inter.broker.listener.name", "MTLS");
    p.put("controller.listener.names", "CONTROLLER");
    p.put("ssl.client.auth", "required");
    p.put("log.dirs", dir.resolve("data").toString());
    p.put("metadata.log.dir", dir.resolve("meta").toString());
    p.put("num.partitions", "1");
    p.put("num.network.threads", "2");
    p.put("num.io.threads", "2");
    p.put("background.threads", "2");
    p.put("log.segment.bytes", Integer.toString(16 * 1024 * 1024));
    p.put("offsets.topic.replication.factor", "1");
    p.put("offsets.topic.num.partitions", "1");
    p.put("transaction.state.log.replication.factor", "1");
    p.put("transaction.state.log.min.isr", "1");
    p.put("share.coordinator.state.topic.replication.factor", "1");
    p.put("share.coordinator.state.topic.min.isr", "1");
    p.put("group.initial.rebalance.delay.ms", "0");
    p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
    p.put("super.users", self.toString());
    p.put("allow.everyone.if.no.acl.found", "false");
    p.putAll(registration.brokerConfig());
    Properties props = new Properties();
    props.putAll(p);
    KafkaConfig config = KafkaConfig.fromProps(props, false);
    new Formatter()
        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
        .setNodeId(1)
        .setClusterId(Uuid.randomUuid().toString())
        .setReleaseVersion(MetadataVersion.latestProduction())
        .setControllerListenerName("CONTROLLER")
        .setMetadataLogDirectory(dir.resolve("meta").toString())
        .addDirectory(dir.resolve("meta").toString())
        .addDirectory(dir.resolve("data").toString())
        .run();
    KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
    try {
      server.startup();
    } catch (RuntimeException e) {
      server.shutdown();
      throw new IllegalStateException("the Kafka broker did not start on " + host + ":" + port + ": " + e, e);
    }
    return server;
  }

  private static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    } catch (IOException e) {
      System.err.println("could not remove the broker's log directory " + dir + ": " + e);
    }
  }
}
