package dev.kubemtls.kubernetes;

import io.fabric8.kubernetes.api.model.APIResource;
import io.fabric8.kubernetes.api.model.APIResourceList;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.VersionInfo;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Which version of the {@code certificates.k8s.io} kinds that moved from beta to stable a cluster
 * serves, found through API discovery at run time: {@code v1} where served (Kubernetes 1.37 and
 * later, on by default), {@code v1beta1} where only that is (1.33 to 1.36, off by default, switched
 * on with a feature gate and {@code --runtime-config}), else nothing.
 *
 * <p>kube-mtls reads and writes PodCertificateRequests and ClusterTrustBundles in whatever version
 * this finds, so one build works across the supported Kubernetes releases. Discovery is open to
 * every authenticated user ({@code system:discovery}); one call per version asked, no caching here
 * ({@link KubeMtls} remembers the answer per client for a few minutes).
 */
public final class CertificatesApi {

  /** The API group. */
  public static final String GROUP = "certificates.k8s.io";
  /** The versions tried, most preferred first. */
  public static final List<String> VERSIONS = List.of("v1", "v1beta1");

  /** A kind whose version depends on the cluster's release. */
  public enum Kind {
    /** {@code podcertificaterequests}: beta in 1.35 and 1.36, stable in 1.37. */
    POD_CERTIFICATE_REQUEST("podcertificaterequests", "PodCertificateRequest", "PodCertificateRequest"),
    /** {@code clustertrustbundles}: beta from 1.33, stable in 1.37. */
    CLUSTER_TRUST_BUNDLE("clustertrustbundles", "ClusterTrustBundle", "ClusterTrustBundle");

    private final String resource;
    private final String kind;
    private final String featureGate;

    Kind(String resource, String kind, String featureGate) {
      this.resource = resource;
      this.kind = kind;
      this.featureGate = featureGate;
    }

    /** The plural resource name, e.g. {@code clustertrustbundles}. */
    public String resource() {
      return resource;
    }

    /** The kind, e.g. {@code ClusterTrustBundle}. */
    public String kind() {
      return kind;
    }

    /** The kube-apiserver feature gate that switches the beta API on before 1.37. */
    public String featureGate() {
      return featureGate;
    }
  }

  private CertificatesApi() {
  }

  /**
   * The version in which the cluster serves {@code kind}: {@code "v1"} when served, else
   * {@code "v1beta1"} when served, else empty.
   *
   * @throws KubernetesClientException if discovery itself fails (the API server is unreachable, or
   *     the client is not authenticated)
   */
  public static Optional<String> servedVersion(KubernetesClient client, Kind kind) {
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(kind, "kind");
    for (String version : VERSIONS) {
      if (serves(client, version, kind)) {
        return Optional.of(version);
      }
    }
    return Optional.empty();
  }

  /**
   * The version in which the cluster serves {@code kind}, preferring {@code v1}.
   *
   * @param neededFor what needs it, for the error, e.g. {@code "--pod-certificates=true"}
   * @throws IllegalStateException naming the cluster's version and what to enable, when neither
   *     version is served
   */
  public static String requireServed(KubernetesClient client, Kind kind, String neededFor) {
    Objects.requireNonNull(neededFor, "neededFor");
    return servedVersion(client, kind).orElseThrow(() -> new IllegalStateException(
        notServed(clusterVersion(client), kind, neededFor)));
  }

  /** The {@code apiVersion} of {@code version}, e.g. {@code certificates.k8s.io/v1}. */
  public static String apiVersion(String version) {
    return GROUP + "/" + version;
  }

  /** The error for a cluster of version {@code release} that serves {@code kind} in no version. */
  static String notServed(String release, Kind kind, String neededFor) {
    return "the cluster (Kubernetes " + release + ") serves " + kind.kind() + "s neither in " + apiVersion("v1")
        + " nor in " + apiVersion("v1beta1") + ", which " + neededFor + " needs. Kubernetes 1.37 and later serve "
        + apiVersion("v1") + " by default (check that --runtime-config does not switch it off); on 1.35 and 1.36"
        + " start kube-apiserver with --feature-gates=" + kind.featureGate() + "=true and --runtime-config="
        + apiVersion("v1beta1") + "/" + kind.resource() + "=true"
        + (kind == Kind.POD_CERTIFICATE_REQUEST ? " (and the kubelet with the same feature gate)" : "")
        + "; older releases cannot serve it";
  }

  /** The cluster's {@code gitVersion}, or {@code "of unknown version"} when it cannot be read. */
  static String clusterVersion(KubernetesClient client) {
    try {
      VersionInfo info = client.getKubernetesVersion();
      return info == null || info.getGitVersion() == null ? "of unknown version" : info.getGitVersion();
    } catch (KubernetesClientException e) {
      return "of unknown version";
    }
  }

  private static boolean serves(KubernetesClient client, String version, Kind kind) {
    APIResourceList list;
    try {
      list = client.getApiResources(apiVersion(version));
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return false;
      }
      throw e;
    }
    if (list == null || list.getResources() == null) {
      return false;
    }
    for (APIResource resource : list.getResources()) {
      if (kind.resource().equals(resource.getName())) {
        return true;
      }
    }
    return false;
  }
}
