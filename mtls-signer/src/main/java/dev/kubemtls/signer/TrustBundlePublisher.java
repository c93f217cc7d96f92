package dev.kubemtls.signer;

import dev.kubemtls.signer.internal.Publishing;
import dev.kubemtls.signer.internal.WorkQueue;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the trust bundle, the PEM of every CA certificate workloads should trust, into a
 * ConfigMap in each namespace that opts in with a label, and keeps it there.
 *
 * <p>The publisher watches the opted-in namespaces (a label selector, by default
 * {@code kube-mtls.dev/inject-bundle=true}) and the bundle ConfigMaps themselves (a field selector on
 * their name, in every namespace). Whenever a namespace opts in, or someone edits or deletes the
 * ConfigMap, it is put back: created if missing, its key rewritten if different. Other keys of the
 * ConfigMap are left alone. The bundle is a list so that a CA rotation can publish the old and the
 * next CA side by side; {@link #setBundle} replaces it and republishes everywhere. A namespace that
 * stops opting in keeps its last ConfigMap, which no longer changes.
 *
 * <p>Create with the constructor, then {@link #start}; {@link #close} stops it. Its
 * Kubernetes permissions: list and watch namespaces; create ConfigMaps; get, list, watch and update
 * the ConfigMaps with the bundle's name.
 */
public final class TrustBundlePublisher implements AutoCloseable {

  /** The label managed ConfigMaps carry. */
  public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
  /** Its value. */
  public static final String MANAGED_BY = "kube-mtls-signer";

  private static final Logger LOG = LoggerFactory.getLogger(TrustBundlePublisher.class);

  private final KubernetesClient client;
  private final String configMapName;
  private final String key;
  private final String labelKey;
  private final String labelValue;
  private final Object lock = new Object();
  private String bundlePem;
  private SharedIndexInformer<Namespace> namespaces;
  private SharedIndexInformer<ConfigMap> configMaps;
  private WorkQueue queue;

  /**
   * @param client        the client to act with
   * @param configMapName the ConfigMap's name in each namespace, e.g. {@code kube-mtls-ca-bundle}
   * @param key           the ConfigMap key holding the PEM, e.g. {@code ca.crt}
   * @param namespaceLabel the opt-in label as {@code key=value}
   * @param bundle        the CA certificates to publish, at least one
   */
  public TrustBundlePublisher(KubernetesClient client, String configMapName, String key, String namespaceLabel,
      List<X509Certificate> bundle) {
    this.client = Objects.requireNonNull(client, "client");
    this.configMapName = Objects.requireNonNull(configMapName, "configMapName");
    this.key = Objects.requireNonNull(key, "key");
    Objects.requireNonNull(namespaceLabel, "namespaceLabel");
    int eq = namespaceLabel.indexOf('=');
    if (eq <= 0 || eq == namespaceLabel.length() - 1) {
      throw new IllegalArgumentException("namespaceLabel must be key=value, was '" + namespaceLabel + "'");
    }
    this.labelKey = namespaceLabel.substring(0, eq);
    this.labelValue = namespaceLabel.substring(eq + 1);
    this.bundlePem = Publishing.encode(bundle);
  }

  /**
   * Starts watching and publishing, without waiting. The returned future completes once the first
   * lists of namespaces and ConfigMaps arrived, or exceptionally if either informer cannot start.
   *
   * @throws IllegalStateException if already started
   */
  public CompletableFuture<Void> start() {
    synchronized (lock) {
      if (queue != null) {
        throw new IllegalStateException("already started");
      }
      queue = new WorkQueue("bundle", 1, Duration.ofMillis(100), Duration.ofSeconds(30), this::reconcile);
      namespaces = client.namespaces().withLabel(labelKey, labelValue).runnableInformer(0);
      configMaps = client.configMaps().inAnyNamespace().withField("metadata.name", configMapName)
          .runnableInformer(0);
    }
    namespaces.addEventHandler(Publishing.enqueue(queue, ns -> ns.getMetadata().getName()));
    configMaps.addEventHandler(Publishing.enqueue(queue, cm -> cm.getMetadata().getNamespace()));
    // ConfigMaps first, so that an opted-in namespace is compared with its existing ConfigMap.
    return configMaps.start().toCompletableFuture().thenCompose(v -> namespaces.start().toCompletableFuture())
        .whenComplete((ok, error) -> {
          if (error != null) {
            LOG.error("cannot list and watch namespaces or bundle ConfigMaps: {}", error.toString());
          }
        });
  }

  /** Replaces the published CA certificates (e.g. during a CA rotation) and republishes them everywhere. */
  public void setBundle(List<X509Certificate> bundle) {
    String pem = Publishing.encode(bundle);
    SharedIndexInformer<Namespace> ns;
    synchronized (lock) {
      bundlePem = pem;
      ns = namespaces;
    }
    if (ns != null) {
      ns.getStore().list().forEach(n -> queue.add(n.getMetadata().getName()));
    }
  }

  /** The PEM text currently published. */
  public String bundlePem() {
    synchronized (lock) {
      return bundlePem;
    }
  }

  private WorkQueue.Outcome reconcile(String namespace) {
    Namespace ns = namespaces.getStore().getByKey(namespace);
    if (ns == null || ns.getMetadata().getDeletionTimestamp() != null
        || (ns.getStatus() != null && "Terminating".equals(ns.getStatus().getPhase()))) {
      return WorkQueue.Outcome.DONE;
    }
    String pem = bundlePem();
    ConfigMap current = configMaps.getStore().getByKey(namespace + "/" + configMapName);
    try {
      if (current == null) {
        client.configMaps().inNamespace(namespace).resource(new ConfigMapBuilder()
            .withNewMetadata().withName(configMapName).withNamespace(namespace)
            .addToLabels(MANAGED_BY_LABEL, MANAGED_BY).endMetadata()
            .addToData(key, pem).build()).create();
        LOG.info("published the trust bundle to ConfigMap {}/{}", namespace, configMapName);
        return WorkQueue.Outcome.DONE;
      }
      if (pem.equals(current.getData() == null ? null : current.getData().get(key))) {
        return WorkQueue.Outcome.DONE;
      }
      Map<String, String> data = new HashMap<>(current.getData() == null ? Map.of() : current.getData());
      data.put(key, pem);
      ConfigMap repaired = new ConfigMapBuilder(current).withData(data).build();
      client.configMaps().inNamespace(namespace).resource(repaired).update();
      LOG.info("repaired the trust bundle in ConfigMap {}/{}", namespace, configMapName);
      return WorkQueue.Outcome.DONE;
    } catch (KubernetesClientException e) {
      // A 404 may also mean that the namespace is gone.
      return Publishing.afterFailure(e, "ConfigMap " + namespace + "/" + configMapName, LOG);
    }
  }

  /** Stops watching and publishing. */
  @Override
  public void close() {
    WorkQueue q;
    synchronized (lock) {
      q = queue;
    }
    if (q != null) {
      q.close();
      namespaces.close();
      configMaps.close();
    }
  }
}
