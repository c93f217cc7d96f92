package dev.kubemtls.testkit;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodSchedulingGateBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * Makes a process on a developer's machine look, to Kubernetes and to the kube-mtls approver, like
 * a Pod of a ServiceAccount, so that a kube-mtls workload (any integration, the Spring starter
 * included) can run locally against the embedded control plane or any cluster: it creates the
 * namespace (labelled for the trust bundle), the ServiceAccount, the workload RBAC and its bindings,
 * a Service per name the workload serves, a Pod object of that ServiceAccount whose labels the
 * Services select and whose {@code status.podIP} is the process's IP (held by a scheduling gate, so
 * no scheduler or kubelet touches it), and a token bound to that Pod; writes a kubeconfig with that
 * token and prints the environment to start the workload with. Run as the cluster's admin.
 *
 * <p>Run through {@code scripts/control-plane workload ...}. Every step is idempotent; the Pod is
 * recreated (a new UID), so an earlier token for it stops working.
 */
public final class LocalWorkload {

  /** The scheduling gate that keeps the Pod object off every node. */
  public static final String SCHEDULING_GATE = "kube-mtls.dev/local-workload";
  static final String USAGE = """
      usage: scripts/control-plane workload --namespace=NS --service-account=SA [--services=a,b]
                 [--pod-name=SA-local] [--pod-ip=127.0.0.1] [--token-ttl-hours=24] [--out=DIR]
                 [--admin-kubeconfig=FILE] [--rbac-file=FILE]
        creates the namespace, ServiceAccount, RBAC bindings, Services, a Pod object with status.podIP
        = --pod-ip and a token bound to it; writes DIR/<pod>.kubeconfig (DIR: the current directory)
        and prints export lines for the workload's environment (eval them).
        --admin-kubeconfig  the cluster admin's kubeconfig (default: $KUBECONFIG, else ./kube-mtls-admin.kubeconfig)
        --rbac-file         the workload ClusterRoles to apply first (scripts/control-plane passes
                            mtls-signer/deploy/workload-rbac.yaml)
      """;

  /**
   * What to create.
   *
   * @param namespace      the workload's namespace
   * @param serviceAccount its ServiceAccount
   * @param services       the Services it serves (their DNS names go into its certificate)
   * @param podName        the Pod object's name
   * @param podIp          the process's IP, as peers dial it
   * @param tokenTtlHours  the bound token's lifetime
   * @param out            where the workload's kubeconfig is written
   * @param rbacFile       a manifest of the workload ClusterRoles to apply, or null
   */
  public record Options(String namespace, String serviceAccount, List<String> services, String podName,
      String podIp, long tokenTtlHours, Path out, Path rbacFile) {
    public Options {
      Objects.requireNonNull(namespace, "--namespace is required");
      Objects.requireNonNull(serviceAccount, "--service-account is required");
      services = List.copyOf(services);
      podName = podName != null ? podName : serviceAccount + "-local";
      podIp = podIp != null ? podIp : "127.0.0.1";
      if (tokenTtlHours < 1) {
        throw new IllegalArgumentException("--token-ttl-hours must be at least 1");
      }
    }
  }

  /** What was made: the workload's kubeconfig and its environment. */
  public record Result(Path kubeconfig, Map<String, String> environment) {
    /** {@code export NAME=value} lines, for {@code eval}. */
    public String exports() {
      StringBuilder b = new StringBuilder();
      environment.forEach((k, v) -> b.append("export ").append(k).append('=').append(v).append('\n'));
      return b.toString();
    }
  }

  private LocalWorkload() {}

  public static void main(String[] args) throws IOException {
    Map<String, String> flags = new LinkedHashMap<>();
    for (String arg : args) {
      if (arg.equals("-h") || arg.equals("--help")) {
        System.out.print(USAGE);
        return;
      }
      int eq = arg.indexOf('=');
      if (!arg.startsWith("--") || eq < 0) {
        fail("unrecognised argument '" + arg + "': options take the form --name=value");
      }
      flags.put(arg.substring(2, eq), arg.substring(eq + 1));
    }
    Options options;
    Path adminKubeconfig;
    try {
      options = new Options(flags.remove("namespace"), flags.remove("service-account"),
          flags.containsKey("services") ? List.of(flags.remove("services").split(",")) : List.of(),
          flags.remove("pod-name"), flags.remove("pod-ip"),
          Long.parseLong(flags.getOrDefault("token-ttl-hours", "24")),
          Path.of(flags.getOrDefault("out", ".")).toAbsolutePath().normalize(),
          flags.containsKey("rbac-file") ? Path.of(flags.get("rbac-file")) : null);
      flags.remove("token-ttl-hours");
      flags.remove("out");
      flags.remove("rbac-file");
      String admin = flags.remove("admin-kubeconfig");
      if (admin == null) {
        String env = System.getenv("KUBECONFIG");
        admin = env != null && !env.isBlank() ? env : "kube-mtls-admin.kubeconfig";
      }
      adminKubeconfig = Path.of(admin).toAbsolutePath();
      if (!flags.isEmpty()) {
        fail("unknown option --" + flags.keySet().iterator().next());
      }
    } catch (NullPointerException | IllegalArgumentException e) {
      fail(e.getMessage());
      return;
    }
    if (!Files.isReadable(adminKubeconfig)) {
      fail("cannot read the admin kubeconfig " + adminKubeconfig + " (start `scripts/control-plane up`, or pass"
          + " --admin-kubeconfig=FILE)");
    }
    Config config = dev.kubemtls.testkit.internal.Kubeconfigs.withDetectedKeyAlgorithm(
        Config.fromKubeconfig(adminKubeconfig.toFile()));
    try (KubernetesClient admin = new KubernetesClientBuilder().withConfig(config).build()) {
      Result result = create(admin, config, options, System.err);
      System.out.print(result.exports());
    }
  }

  private static void fail(String message) {
    System.err.println("local-workload: " + message);
    System.err.print(USAGE);
    System.exit(2);
  }

  /**
   * Creates (or brings up to date) everything {@code options} names, as {@code admin}.
   *
   * @param adminConfig the admin's configuration: its server URL and CA go into the workload's kubeconfig
   * @param log         one line per step
   */
  public static Result create(KubernetesClient admin, Config adminConfig, Options o, PrintStream log)
      throws IOException {
    String ns = o.namespace();
    String sa = o.serviceAccount();
    admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
        .addToLabels("kube-mtls.dev/inject-bundle", "true").endMetadata().build()).serverSideApply();
    admin.serviceAccounts().inNamespace(ns).resource(new ServiceAccountBuilder().withNewMetadata().withName(sa)
        .endMetadata().build()).serverSideApply();
    log.println("[local-workload] namespace " + ns + " (labelled kube-mtls.dev/inject-bundle=true), ServiceAccount " + sa);
    if (o.rbacFile() != null) {
      try (InputStream in = Files.newInputStream(o.rbacFile())) {
        for (HasMetadata item : admin.load(in).items()) {
          admin.resource(item).forceConflicts().serverSideApply();
        }
      }
      log.println("[local-workload] applied " + o.rbacFile().getFileName());
    }
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
        .withName("kube-mtls-workload-csr-" + ns + "-" + sa).endMetadata()
        .withNewRoleRef("rbac.authorization.k8s.io", "ClusterRole", "kube-mtls-workload-csr")
        .addNewSubject().withKind("ServiceAccount").withName(sa).withNamespace(ns).endSubject().build())
        .serverSideApply();
    for (String role : List.of("kube-mtls-workload-bundle", "kube-mtls-workload-events")) {
      admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
          .withName(role + "-" + sa).withNamespace(ns).endMetadata()
          .withNewRoleRef("rbac.authorization.k8s.io", "ClusterRole", role)
          .addNewSubject().withKind("ServiceAccount").withName(sa).withNamespace(ns).endSubject().build())
          .serverSideApply();
    }
    log.println("[local-workload] bound kube-mtls-workload-csr, -bundle and -events to " + ns + "/" + sa);

    Map<String, String> labels = Map.of("kube-mtls.dev/local-workload", o.podName());
    for (String service : o.services()) {
      admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName(service)
          .withNamespace(ns).endMetadata().withNewSpec().withSelector(labels).addNewPort().withName("https")
          .withPort(8443).endPort().endSpec().build()).serverSideApply();
    }
    if (!o.services().isEmpty()) {
      log.println("[local-workload] Services " + String.join(", ", o.services()) + " select the Pod");
    }

    // The Pod object: a new one each time (its UID changes), held off every node by a scheduling gate.
    admin.pods().inNamespace(ns).withName(o.podName()).withGracePeriod(0).delete();
    admin.pods().inNamespace(ns).withName(o.podName()).waitUntilCondition(Objects::isNull, 60, TimeUnit.SECONDS);
    Pod pod = admin.pods().inNamespace(ns).resource(new PodBuilder().withNewMetadata().withName(o.podName())
        .withNamespace(ns).withLabels(labels).endMetadata().withNewSpec().withServiceAccountName(sa)
        .withSchedulingGates(new PodSchedulingGateBuilder().withName(SCHEDULING_GATE).build())
        .addNewContainer().withName("workload").withImage("registry.k8s.io/pause:3.10").endContainer()
        .endSpec().build()).create();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(o.podIp())
        .withPodIPs(new PodIPBuilder().withIp(o.podIp()).build()).build());
    pod = admin.pods().inNamespace(ns).resource(pod).updateStatus();
    log.println("[local-workload] Pod " + ns + "/" + o.podName() + " with status.podIP " + o.podIp());

    String token = admin.serviceAccounts().inNamespace(ns).withName(sa).tokenRequest(new TokenRequestBuilder()
        .withNewSpec().withExpirationSeconds(TimeUnit.HOURS.toSeconds(o.tokenTtlHours()))
        .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(o.podName())
        .withUid(pod.getMetadata().getUid()).endBoundObjectRef().endSpec().build()).getStatus().getToken();
    Path kubeconfig = o.out().resolve(o.podName() + ".kubeconfig");
    Files.createDirectories(o.out());
    Files.writeString(kubeconfig, kubeconfig(adminConfig, ns, sa, token), StandardCharsets.UTF_8);
    log.println("[local-workload] token bound to the Pod (" + o.tokenTtlHours() + " h) in " + kubeconfig);

    Map<String, String> env = new LinkedHashMap<>();
    env.put("POD_NAMESPACE", ns);
    env.put("SERVICE_ACCOUNT", sa);
    env.put("POD_NAME", o.podName());
    env.put("POD_UID", pod.getMetadata().getUid());
    env.put("POD_IP", o.podIp());
    env.put("KUBECONFIG", kubeconfig.toString());                // for a KubernetesClient the application builds
    env.put("KUBEMTLS_KUBECONFIGFILE", kubeconfig.toString());   // the Spring starter's kube-mtls.kubeconfig-file
    return new Result(kubeconfig, env);
  }

  private static String kubeconfig(Config admin, String ns, String sa, String token) throws IOException {
    String ca = admin.getCaCertData() != null ? admin.getCaCertData()
        : Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of(admin.getCaCertFile())));
    List<String> lines = new ArrayList<>(List.of("apiVersion: v1", "kind: Config", "clusters:", "- name: cluster",
        "  cluster:", "    server: " + admin.getMasterUrl(), "    certificate-authority-data: " + ca, "users:",
        "- name: " + sa, "  user:", "    token: " + token, "contexts:", "- name: workload", "  context:",
        "    cluster: cluster", "    user: " + sa, "    namespace: " + ns, "current-context: workload"));
    return String.join("\n", lines) + "\n";
  }
}
