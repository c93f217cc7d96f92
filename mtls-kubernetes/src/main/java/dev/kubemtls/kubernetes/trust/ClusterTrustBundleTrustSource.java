package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.kubernetes.CertificatesApi;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.InstantSource;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link TrustSource} that follows the ClusterTrustBundles linked to one signer name: Kubernetes' own way for a signer to tell the whole cluster which CAs
 * to trust, the same objects the kubelet projects into pods with a {@code clusterTrustBundle}
 * volume source.
 *
 * <p>Who holds what: a signer (the kube-mtls signer with {@code --cluster-trust-bundle=true}) owns
 * the cluster-scoped bundles whose {@code spec.signerName} is its name; the API server lets only
 * holders of the {@code attest} verb on that signer create or change them, and names them
 * {@code <signerName with '/' as ':'>:<suffix>}. A signer may keep several; together they are its
 * trust anchors. This source lists and watches every bundle with the field selector
 * {@code spec.signerName=<name>} (narrowed by an optional label selector) and holds the union of
 * their CAs, checked like {@link TrustBundles#fromClusterTrustBundles}: each CA once, CAs that have
 * expired left out and named in {@link TrustBundle#ignored()}. Its {@code sourceVersion} names
 * every bundle and its resourceVersion, {@code name@resourceVersion,...}.
 *
 * <p>When it changes: each add, update or delete of a matching bundle recomputes the union at
 * once, so a CA rotation the signer publishes (old and new CA side by side, later the old one
 * removed) reaches the listeners within a watch event. Anything unusable leaves the previous
 * bundle in place and is reported to the listeners' {@code onProblem} and {@link #lastProblem()}:
 * a bundle holding a certificate that is not a CA or may not sign certificates, a merge whose CAs
 * have all expired, no matching bundle left, or a failing watch (for example RBAC, or a cluster
 * that does not serve the beta API). One bad bundle spoils the merge, so the previous, good trust
 * stays until it is fixed.
 *
 * <p>The API is stable and on by default from Kubernetes 1.37 ({@code certificates.k8s.io/v1}); on
 * 1.33 to 1.36 it is beta and off by default (the {@code ClusterTrustBundle} feature gate and
 * {@code certificates.k8s.io/v1beta1}). {@link #start()} finds through discovery which one the
 * cluster serves, {@code v1} preferred, and fails with what to enable when neither is. Clusters
 * serving it grant every ServiceAccount {@code get}, {@code list} and {@code watch} on
 * {@code clustertrustbundles} (the ClusterRole {@code system:cluster-trust-bundle-discovery}),
 * which is all a workload needs. The informer runs on the client's threads; {@link #close()}
 * stops it. The client stays the caller's.
 */
public final class ClusterTrustBundleTrustSource extends InformerTrust<GenericKubernetesResource> {

  private final KubernetesClient client;
  private final String signerName;
  private final Map<String, String> labels;
  private final Duration resync;
  private final String servedVersion;

  private ClusterTrustBundleTrustSource(Builder b) {
    super(ClusterTrustBundleTrustSource.class, "the ClusterTrustBundles of signer " + b.signerName
        + (b.labels.isEmpty() ? "" : " labelled " + b.labels),
        "get, list and watch on clustertrustbundles (certificates.k8s.io)", reader(b.signerName, b.labels, b.clock),
        false);
    this.client = b.client;
    this.signerName = b.signerName;
    this.labels = Map.copyOf(b.labels);
    this.resync = b.resync;
    this.servedVersion = b.servedVersion;
  }

  private static Reader<GenericKubernetesResource> reader(String signerName, Map<String, String> labels,
      InstantSource clock) {
    String selected = labels.isEmpty() ? "" : " and labels " + labels;
    return cached -> {
      if (cached.isEmpty()) {
        throw new MtlsException("there is no ClusterTrustBundle with signerName " + signerName + selected
            + " (does the signer publish one, e.g. the kube-mtls signer with --cluster-trust-bundle=true?);"
            + " keeping the previous trust bundle until one appears");
      }
      return TrustBundles.fromClusterTrustBundles(cached, clock);
    };
  }

  /**
   * Follows the ClusterTrustBundles whose {@code spec.signerName} is {@code signerName}, e.g.
   * {@code kube-mtls.dev/workload}.
   */
  public static Builder builder(KubernetesClient client, String signerName) {
    return new Builder(client, signerName);
  }

  /**
   * Starts following the bundles.
   *
   * @return completes with the first valid bundle (it may take until the signer publishes one)
   * @throws IllegalStateException if already started or closed, or if the cluster serves
   *     ClusterTrustBundles in no version (saying what to enable)
   */
  public CompletableFuture<TrustBundle> start() {
    String version = servedVersion != null ? servedVersion : CertificatesApi.requireServed(client,
        CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE, "trusting ClusterTrustBundles");
    return startInformer(() -> {
      SharedIndexInformer<GenericKubernetesResource> informer = ClusterTrustBundles.resources(client, version)
          .withField("spec.signerName", signerName).withLabels(labels).runnableInformer(resync.toMillis());
      // Only what the bundle is read from (the name and resourceVersion are always kept), not the
      // managed fields and the rest of the object.
      informer.itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE,
          GenericKubernetesResource.class, client.getKubernetesSerialization(), "spec.signerName",
          "spec.trustBundle"));
      return informer;
    });
  }

  /** The signer name whose bundles are followed. */
  public String signerName() {
    return signerName;
  }

  @Override
  public String toString() {
    return "ClusterTrustBundleTrustSource[" + signerName + (labels.isEmpty() ? "" : ", " + labels) + "]";
  }

  /** Options of a {@link ClusterTrustBundleTrustSource}. */
  public static final class Builder {
    private final KubernetesClient client;
    private final String signerName;
    private final Map<String, String> labels = new LinkedHashMap<>();
    private Duration resync = InformerTrust.DEFAULT_RESYNC;
    private String servedVersion;
    private InstantSource clock = InstantSource.system();

    private Builder(KubernetesClient client, String signerName) {
      this.client = Objects.requireNonNull(client, "client");
      // Reading a kubernetes.io signer's bundles is harmless, so those names are allowed too.
      this.signerName = SignerNames.require(signerName, true);
    }

    /**
     * Follows only the bundles that also carry every one of these labels (a label selector of
     * equalities); all bundles of the signer by default.
     */
    public Builder labelSelector(Map<String, String> labels) {
      Objects.requireNonNull(labels, "labels");
      Map<String, String> checked = new LinkedHashMap<>();
      labels.forEach((key, value) -> {
        KubernetesNames.requireLabel("label selector", key, value);
        checked.put(key, value);
      });
      this.labels.clear();
      this.labels.putAll(checked);
      return this;
    }

    /**
     * How often the informer re-delivers the cached bundles (a safety net; changes arrive by watch
     * at once); zero turns it off. Ten minutes by default.
     */
    public Builder resync(Duration resync) {
      this.resync = InformerTrust.requireResync(resync);
      return this;
    }

    /**
     * The version in which the cluster serves ClusterTrustBundles ({@code v1} or {@code v1beta1}),
     * for a caller that has already asked {@link CertificatesApi#servedVersion}: {@link #start()}
     * then skips its own discovery call. By default {@link #start()} asks.
     */
    public Builder servedVersion(String version) {
      if (!CertificatesApi.VERSIONS.contains(Objects.requireNonNull(version, "version"))) {
        throw new IllegalArgumentException("ClusterTrustBundles are served in " + CertificatesApi.VERSIONS
            + ", not in '" + version + "'");
      }
      this.servedVersion = version;
      return this;
    }

    /** The clock against which CA expiry is judged; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    public ClusterTrustBundleTrustSource build() {
      return new ClusterTrustBundleTrustSource(this);
    }
  }
}
