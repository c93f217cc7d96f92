package dev.kubemtls.signer.internal;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What the approver may look up about the cluster: Pods by name and the Services of a namespace.
 * The controller answers from cluster-wide informer caches ({@code --lookups=cache}, with live reads
 * before any denial that depends on them) or from the API (a GET and a LIST per request,
 * {@code --lookups=request}); tests answer from tables. Implementations may throw unchecked exceptions for transient
 * failures: the controller retries the request later.
 */
public interface ClusterView {

  /** The Pod {@code namespace/name}, or empty when it does not exist. */
  Optional<PodInfo> pod(String namespace, String name);

  /** The Services of {@code namespace}. */
  List<ServiceInfo> services(String namespace);

  /**
   * The facts about a Pod that the approver uses.
   *
   * @param name           the Pod's name
   * @param uid            its UID
   * @param serviceAccount {@code spec.serviceAccountName}
   * @param labels         its labels
   * @param podIps         {@code status.podIPs} (or {@code status.podIP}), possibly empty
   * @param terminating    whether it is being deleted or has finished
   * @param hostNetwork    {@code spec.hostNetwork}: its IPs are the node's
   */
  record PodInfo(String name, String uid, String serviceAccount, Map<String, String> labels, List<String> podIps,
      boolean terminating, boolean hostNetwork) {

    /** A Pod on the Pod network. */
    public PodInfo(String name, String uid, String serviceAccount, Map<String, String> labels, List<String> podIps,
        boolean terminating) {
      this(name, uid, serviceAccount, labels, podIps, terminating, false);
    }

    /** Copies the collections; nulls become empty (the ServiceAccount {@code default}). */
    public PodInfo {
      Objects.requireNonNull(name, "name");
      uid = uid == null ? "" : uid;
      serviceAccount = serviceAccount == null ? "default" : serviceAccount;
      labels = labels == null ? Map.of() : Map.copyOf(labels);
      podIps = podIps == null ? List.of() : List.copyOf(podIps);
    }
  }

  /**
   * The facts about a Service that the approver uses.
   *
   * @param name     the Service's name
   * @param selector {@code spec.selector}; a Service without one selects no Pod
   */
  record ServiceInfo(String name, Map<String, String> selector) {
    /** Copies the selector; null becomes empty. */
    public ServiceInfo {
      Objects.requireNonNull(name, "name");
      selector = selector == null ? Map.of() : Map.copyOf(selector);
    }

    /** Whether this Service selects a Pod with {@code labels}. */
    public boolean selects(Map<String, String> labels) {
      return !selector.isEmpty() && selector.entrySet().stream()
          .allMatch(e -> e.getValue().equals(labels.get(e.getKey())));
    }
  }
}
