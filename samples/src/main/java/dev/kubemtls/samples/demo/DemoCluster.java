package dev.kubemtls.samples.demo;

import dev.kubemtls.core.names.Defaults;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodSchedulingGateBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * The Kubernetes side of the demo: applies the sample manifests (namespaces, ServiceAccounts,
 * RBAC, Services), turns each Deployment's pod template into one Pod object the way a ReplicaSet
 * would, records a loopback address as its pod IP the way a kubelet would, and gives each process
 * a kubeconfig with a token bound to its Pod. Pods carry a scheduling gate so that on a real
 * cluster no kubelet ever tries to run them: the processes on this machine play their part.
 */
final class DemoCluster {

  /** Manifests on the class path, applied in this order; Deployments become single Pods. */
  static final List<String> MANIFESTS = List.of(
      "k8s/00-namespace.yaml", "k8s/10-workload-rbac.yaml", "k8s/20-echo.yaml", "k8s/30-web.yaml",
      "k8s/40-client.yaml", "k8s/50-spring.yaml", "k8s/60-kafka.yaml", "k8s/70-postgres.yaml");

  /** Each process is a pod with its own loopback address, so that IP SANs are distinct and real. */
  static final Map<String, String> POD_IPS = new java.util.TreeMap<>(Map.of(
      "echo", "127.0.0.2", "web", "127.0.0.3", "client", "127.0.0.4", "signer", "127.0.0.5",
      "spring", "127.0.0.8", "kafka", "127.0.0.9", "postgres", "127.0.0.10", "orders", "127.0.0.11"));

  /** Keeps a scheduler off the demo's Pods, and marks them as the demo's. */
  static final String DEMO_SCHEDULING_GATE = "kube-mtls.dev/demo";

  private final KubernetesClient admin;
  private final Config adminConfig;
  private final Path workDir;
  private final BiConsumer<String, String> say;
  private final Map<String, Pod> pods = new LinkedHashMap<>();
  private final Map<String, PodTemplateSpec> templates = new LinkedHashMap<>();

  DemoCluster(KubernetesClient admin, Config adminConfig, Path workDir, BiConsumer<String, String> say) {
    this.admin = admin;
    this.adminConfig = adminConfig;
    this.workDir = workDir;
    this.say = say;
  }

  /**
   * Applies the manifests and creates the CA Secret and the Pods. On a cluster where an earlier
   * run left its objects, the configuration (namespaces, ServiceAccounts, RBAC, Services) is
   * adopted: server-side apply brings it to the manifests. What belongs to one run is removed and
   * made anew: the Pods (their tokens and pod IPs are per run), the CA Secret with its rotation plan
   * and the published bundle (so this run's CA rotation starts from one fresh CA). Both are said.
   *
   * @throws IllegalStateException if a Pod or CA Secret of the demo's names exists that the demo did not create
   */
  void install(DemoOptions options) {
    List<String> all = new ArrayList<>(SignerSetup.MANIFESTS);
    all.addAll(MANIFESTS);
    int applied = 0;
    List<String> adopted = new ArrayList<>();
    for (String manifest : all) {
      for (HasMetadata item : load(manifest)) {
        if (item instanceof Deployment d) {
          templates.put(d.getMetadata().getName(), d.getSpec().getTemplate());
          continue;
        }
        if (admin.resource(item).get() != null) {
          adopted.add(item.getKind() + " " + describe(item));
        }
        admin.resource(item).fieldManager("kube-mtls-demo").forceConflicts().serverSideApply();
        applied++;
      }
    }
    say.accept("demo", "applied " + applied + " objects (namespaces, ServiceAccounts, RBAC, Services)");
    if (!adopted.isEmpty()) {
      say.accept("demo", "adopted " + adopted.size() + " of them that already existed (an earlier run's):"
          + " server-side apply brought them to the manifests");
    }
    removeEarlierRun();
    SignerSetup.createCaSecret(admin);
    for (Map.Entry<String, PodTemplateSpec> e : templates.entrySet()) {
      String namespace = e.getKey().equals("kube-mtls-signer") ? Demo.SYSTEM_NAMESPACE : Demo.NAMESPACE;
      pods.put(e.getKey(), createPod(namespace, e.getKey(), e.getValue()));
    }
    say.accept("demo", "created pods (pod IPs on loopback): " + POD_IPS);
  }

  /** Deletes, and waits for the deletion of, what an earlier demo run left that belongs to one run. */
  private void removeEarlierRun() {
    List<String> removed = new ArrayList<>();
    boolean earlierSigner = false;
    for (String app : templates.keySet()) {
      String namespace = app.equals("kube-mtls-signer") ? Demo.SYSTEM_NAMESPACE : Demo.NAMESPACE;
      Pod pod = admin.pods().inNamespace(namespace).withName(app + "-0").get();
      if (pod == null) {
        continue;
      }
      boolean ours = pod.getSpec().getSchedulingGates() != null && pod.getSpec().getSchedulingGates().stream()
          .anyMatch(g -> DEMO_SCHEDULING_GATE.equals(g.getName()));
      if (!ours) {
        throw new IllegalStateException("Pod " + namespace + "/" + app + "-0 exists but was not created by the demo"
            + " (it lacks the scheduling gate " + DEMO_SCHEDULING_GATE + "); the demo will not touch it: delete it"
            + " or use another cluster");
      }
      earlierSigner |= app.equals("kube-mtls-signer");
      admin.pods().inNamespace(namespace).withName(app + "-0").withTimeout(60, TimeUnit.SECONDS).delete();
      removed.add("Pod " + namespace + "/" + app + "-0");
    }
    Secret ca = admin.secrets().inNamespace(Demo.SYSTEM_NAMESPACE).withName(Demo.CA_SECRET).get();
    if (ca != null) {
      // The demo labels the CA Secret it creates; a CA rotation replaces the Secret and its labels,
      // but then the demo's signer Pod, which the demo creates with the Secret, is evidence enough.
      boolean ours = earlierSigner || (ca.getMetadata().getLabels() != null
          && SignerSetup.DEMO_LABEL_VALUE.equals(ca.getMetadata().getLabels().get(SignerSetup.DEMO_LABEL)));
      if (!ours) {
        throw new IllegalStateException("Secret " + Demo.SYSTEM_NAMESPACE + "/" + Demo.CA_SECRET + " exists but"
            + " was not created by the demo; the demo rotates its CA, so it will not use this one: delete it (and "
            + Demo.CA_SECRET + "-rotation) or use another cluster");
      }
      for (String name : List.of(Demo.CA_SECRET, Demo.CA_SECRET + "-rotation")) {
        if (!admin.secrets().inNamespace(Demo.SYSTEM_NAMESPACE).withName(name).withTimeout(60, TimeUnit.SECONDS)
            .delete().isEmpty()) {
          removed.add("Secret " + Demo.SYSTEM_NAMESPACE + "/" + name);
        }
      }
      if (!admin.configMaps().inNamespace(Demo.NAMESPACE).withName(Demo.BUNDLE_CONFIGMAP)
          .withTimeout(60, TimeUnit.SECONDS).delete().isEmpty()) {
        removed.add("ConfigMap " + Demo.NAMESPACE + "/" + Demo.BUNDLE_CONFIGMAP);
      }
    }
    if (!removed.isEmpty()) {
      say.accept("demo", "removed what an earlier run left, to make it anew: " + String.join(", ", removed));
    }
  }

  private static String describe(HasMetadata item) {
    String ns = item.getMetadata().getNamespace();
    return (ns == null ? "" : ns + "/") + item.getMetadata().getName();
  }

  private List<HasMetadata> load(String resource) {
    try (InputStream in = DemoCluster.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("manifest " + resource + " is missing from the class path");
      }
      return admin.load(in).items();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Pod createPod(String namespace, String app, PodTemplateSpec template) {
    String short_ = app.replace("kube-mtls-", "");
    String ip = POD_IPS.get(short_);
    Pod pod = admin.pods().inNamespace(namespace).resource(new PodBuilder()
        .withNewMetadataLike(template.getMetadata()).withName(app + "-0").withNamespace(namespace).endMetadata()
        .withSpec(template.getSpec())
        .editSpec().withSchedulingGates(new PodSchedulingGateBuilder().withName(DEMO_SCHEDULING_GATE).build())
        .endSpec().build()).create();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(ip)
        .withPodIPs(new PodIPBuilder().withIp(ip).build()).build());
    return admin.pods().inNamespace(namespace).resource(pod).updateStatus();
  }

  /**
   * The environment of one process: the pod template's literal variables, the downward-API ones
   * resolved from its Pod, a kubeconfig with its bound token, and loopback addresses in place of
   * Service DNS names (this machine has no cluster DNS).
   */
  Map<String, String> envFor(String app) {
    String key = app.equals("signer") ? "kube-mtls-signer" : app;
    Pod pod = pods.get(key);
    PodTemplateSpec template = templates.get(key);
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar v : template.getSpec().getContainers().get(0).getEnv()) {
      if (v.getValue() != null) {
        env.put(v.getName(), v.getValue());
      } else if (v.getValueFrom() != null && v.getValueFrom().getFieldRef() != null) {
        String field = v.getValueFrom().getFieldRef().getFieldPath();
        env.put(v.getName(), switch (field) {
          case "metadata.name" -> pod.getMetadata().getName();
          case "metadata.namespace" -> pod.getMetadata().getNamespace();
          case "metadata.uid" -> pod.getMetadata().getUid();
          case "status.podIP" -> pod.getStatus().getPodIP();
          case "spec.serviceAccountName" -> pod.getSpec().getServiceAccountName();
          default -> throw new IllegalStateException("unsupported downward-API field " + field);
        });
      }
    }
    env.replaceAll((name, value) -> value
        .replace("echo.kube-mtls-demo.svc", POD_IPS.get("echo"))
        .replace("web.kube-mtls-demo.svc", POD_IPS.get("web"))
        .replace("kafka.kube-mtls-demo.svc", POD_IPS.get("kafka"))
        .replace("postgres.kube-mtls-demo.svc", POD_IPS.get("postgres")));
    env.put("KUBECONFIG", writeKubeconfig(pod).toString());
    return env;
  }

  /** Mints a token for the Pod's ServiceAccount, bound to the Pod, as the kubelet's projection would. */
  private Path writeKubeconfig(Pod pod) {
    String ns = pod.getMetadata().getNamespace();
    String sa = pod.getSpec().getServiceAccountName();
    String token = admin.serviceAccounts().inNamespace(ns).withName(sa).tokenRequest(new TokenRequestBuilder()
        .withNewSpec().withExpirationSeconds(TimeUnit.HOURS.toSeconds(2))
        .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(pod.getMetadata().getName())
        .withUid(pod.getMetadata().getUid()).endBoundObjectRef().endSpec().build()).getStatus().getToken();
    String ca = adminConfig.getCaCertData() != null ? adminConfig.getCaCertData()
        : Base64.getEncoder().encodeToString(readFile(adminConfig.getCaCertFile()));
    String text = "apiVersion: v1\nkind: Config\nclusters:\n- name: demo\n  cluster:\n    server: "
        + adminConfig.getMasterUrl() + "\n    certificate-authority-data: " + ca + "\nusers:\n- name: "
        + sa + "\n  user:\n    token: " + token + "\ncontexts:\n- name: demo\n  context:\n    cluster: demo\n"
        + "    user: " + sa + "\n    namespace: " + ns + "\ncurrent-context: demo\n";
    Path file = workDir.resolve(ns + "-" + pod.getMetadata().getName() + ".kubeconfig");
    try {
      Files.writeString(file, text, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  private static byte[] readFile(String path) {
    try {
      return Files.readAllBytes(Path.of(path));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the cluster CA file " + path, e);
    }
  }

  List<String> signerArgs(DemoOptions options) {
    return SignerSetup.args(templates.get("kube-mtls-signer"), options);
  }

  /**
   * Waits (by watching) until the signer has published the CA bundle in the demo namespace, giving
   * up early if the signer process died.
   */
  void awaitBundle(Duration timeout, java.util.function.BooleanSupplier signerAlive) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try {
        admin.configMaps().inNamespace(Demo.NAMESPACE).withName(Demo.BUNDLE_CONFIGMAP)
            .waitUntilCondition((ConfigMap cm) -> cm != null && cm.getData() != null
                && cm.getData().containsKey(Defaults.TRUST_BUNDLE_KEY), 2, TimeUnit.SECONDS);
        break;
      } catch (io.fabric8.kubernetes.client.KubernetesClientTimeoutException e) {
        if (!signerAlive.getAsBoolean()) {
          throw new IllegalStateException("the signer exited before it published the CA bundle");
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("the signer did not publish the CA bundle " + Demo.NAMESPACE + "/"
              + Demo.BUNDLE_CONFIGMAP + " within " + timeout.toSeconds() + "s");
        }
      }
    }
    say.accept("demo", "CA bundle published in " + Demo.NAMESPACE + "/" + Demo.BUNDLE_CONFIGMAP);
  }

  void rotateCa() {
    SignerSetup.rotateCa(admin);
  }
}
