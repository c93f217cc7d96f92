package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers the approver's lookups from two cluster-wide informers (Pods and Services) instead of a
 * GET and a LIST per request: the {@code --lookups=cache} mode. The caches keep only the fields the
 * approver reads (name, namespace, UID, labels, deletion time, ServiceAccount, host network, Pod IPs and phase;
 * Service selectors), so a Pod costs a few hundred bytes of heap whatever its spec holds.
 *
 * <p>A cache may be behind the API server by the latency of its watch. Until both informers have
 * listed, and for a Pod the cache does not hold, the lookup goes to the API ({@link ApiClusterView});
 * the controller also repeats a denial that depends on the cluster's state with live reads before
 * writing it ({@link Lookups#decide}), so a stale cache can delay nothing and deny nothing wrongly.
 * An approval from a cache that has not yet seen a Pod's deletion, a new IP or a Service's new
 * selector is possible within that latency; the token the request was made with is bound to the Pod
 * and stops working when the Pod is deleted.
 *
 * <p>It needs {@code list} and {@code watch} on {@code pods} and {@code services} in every
 * namespace. Without them the informers do not start and every lookup goes to the API.
 */
public final class InformerClusterView implements ClusterView, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(InformerClusterView.class);

  private final ApiClusterView live;
  private final SharedIndexInformer<Pod> pods;
  private final SharedIndexInformer<Service> services;

  public InformerClusterView(KubernetesClient client, ApiClusterView live) {
    this.live = live;
    this.pods = client.pods().inAnyNamespace().runnableInformer(0);
    pods.itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, Pod.class,
        client.getKubernetesSerialization(), "metadata.uid", "metadata.labels", "metadata.deletionTimestamp",
        "spec.serviceAccountName", "spec.hostNetwork", "status.podIP", "status.podIPs", "status.phase"));
    this.services = client.services().inAnyNamespace().runnableInformer(0);
    services.itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, Service.class,
        client.getKubernetesSerialization(), "spec.selector"));
  }

  /** Starts both informers without waiting; lookups go to the API until they have listed. */
  public void start() {
    pods.start().whenComplete((ok, e) -> {
      if (e != null) {
        LOG.warn("cannot list and watch Pods in all namespaces ({}); the approver reads each Pod from the API."
            + " Grant list and watch on pods, or run with --lookups=request", e.toString());
      }
    });
    services.start().whenComplete((ok, e) -> {
      if (e != null) {
        LOG.warn("cannot list and watch Services in all namespaces ({}); the approver lists Services from the API."
            + " Grant list and watch on services, or run with --lookups=request", e.toString());
      }
    });
  }

  /** Whether both caches have listed and are watching. */
  public boolean synced() {
    return pods.hasSynced() && services.hasSynced() && pods.isWatching() && services.isWatching();
  }

  /** The live view behind this cache. */
  public ApiClusterView live() {
    return live;
  }

  @Override
  public Optional<PodInfo> pod(String namespace, String name) {
    if (!pods.hasSynced() || !pods.isWatching()) {
      return live.pod(namespace, name);
    }
    Pod pod = pods.getStore().getByKey(namespace + "/" + name);
    // A miss may be a Pod created a moment ago: ask the API before saying it does not exist.
    return pod == null ? live.pod(namespace, name) : Optional.of(ApiClusterView.podInfo(pod));
  }

  @Override
  public List<ServiceInfo> services(String namespace) {
    if (!services.hasSynced() || !services.isWatching()) {
      return live.services(namespace);
    }
    List<ServiceInfo> out = new ArrayList<>();
    for (Service s : services.getIndexer().byIndex(Cache.NAMESPACE_INDEX, namespace)) {
      out.add(ApiClusterView.serviceInfo(s));
    }
    return out;
  }

  @Override
  public void close() {
    pods.close();
    services.close();
  }
}
