package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Answers the approver's lookups with single API calls: GET of one Pod, LIST of one namespace's
 * Services. It needs only {@code get pods} and {@code list services}; it is the
 * {@code --lookups=request} mode, and the live read behind {@link InformerClusterView}.
 */
public final class ApiClusterView implements ClusterView {

  private final KubernetesClient client;

  public ApiClusterView(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public Optional<PodInfo> pod(String namespace, String name) {
    Pod pod = client.pods().inNamespace(namespace).withName(name).get();
    return pod == null ? Optional.empty() : Optional.of(podInfo(pod));
  }

  /** The approver's facts about {@code pod}. */
  static PodInfo podInfo(Pod pod) {
    String name = pod.getMetadata().getName();
    List<String> ips = new ArrayList<>();
    if (pod.getStatus() != null) {
      if (pod.getStatus().getPodIPs() != null) {
        for (PodIP ip : pod.getStatus().getPodIPs()) {
          if (ip.getIp() != null) {
            ips.add(ip.getIp());
          }
        }
      }
      if (pod.getStatus().getPodIP() != null && !ips.contains(pod.getStatus().getPodIP())) {
        ips.add(pod.getStatus().getPodIP());
      }
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    boolean terminating = pod.getMetadata().getDeletionTimestamp() != null
        || "Succeeded".equals(phase) || "Failed".equals(phase);
    return new PodInfo(name, pod.getMetadata().getUid(),
        pod.getSpec() == null ? null : pod.getSpec().getServiceAccountName(), pod.getMetadata().getLabels(), ips,
        terminating, pod.getSpec() != null && Boolean.TRUE.equals(pod.getSpec().getHostNetwork()));
  }

  /** The approver's facts about {@code service}. */
  static ServiceInfo serviceInfo(Service s) {
    return new ServiceInfo(s.getMetadata().getName(), s.getSpec() == null ? null : s.getSpec().getSelector());
  }

  @Override
  public List<ServiceInfo> services(String namespace) {
    List<ServiceInfo> out = new ArrayList<>();
    for (Service s : client.services().inNamespace(namespace).list().getItems()) {
      out.add(serviceInfo(s));
    }
    return out;
  }
}
