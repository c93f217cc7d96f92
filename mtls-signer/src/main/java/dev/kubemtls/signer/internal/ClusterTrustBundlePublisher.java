package dev.kubemtls.signer.internal;

import dev.kubemtls.kubernetes.CertificatesApi;
import dev.kubemtls.kubernetes.trust.ClusterTrustBundles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the trust bundle, the PEM of every CA certificate workloads should trust, as one
 * ClusterTrustBundle linked to the signer name, and keeps it
 * there: Kubernetes' own way for a signer to distribute its trust anchors, which workloads follow
 * with {@code dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource} or mount with a
 * {@code clusterTrustBundle} projected volume.
 *
 * <p>The bundle is cluster-scoped and named {@link #bundleName(String)}: the API server requires
 * a bundle with {@code spec.signerName} {@code <domain>/<path>} to be named
 * {@code <domain>:<path>:<suffix>}, and lets only holders of the verb {@code attest} on
 * {@code signers/<signerName>} create or change it. The publisher watches that one bundle (a field
 * selector on its name) and puts it back whenever someone deletes it or changes its PEM or its
 * managed-by label; other labels and annotations are left alone. {@link #setBundle} replaces the
 * CAs (a CA rotation publishes the old and the next CA side by side) with the same PEM as the
 * bundle ConfigMaps. Other bundles for the same signer name, written by others who may attest,
 * are not touched; workloads trust the union of all of them.
 *
 * <p>The API is stable and on by default from Kubernetes 1.37 ({@code certificates.k8s.io/v1}),
 * beta and off by default before (1.33 to 1.36: the {@code ClusterTrustBundle} feature gate and
 * {@code --runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true}); the publisher
 * speaks the version {@link #requireServed} found, {@code v1} preferred. Permissions: create
 * {@code clustertrustbundles}; get, list, watch and update the bundle by name; {@code attest} on
 * the signer name. Create with the constructor, then {@link #start}; {@link #close} stops it.
 */
final class ClusterTrustBundlePublisher implements AutoCloseable {

  /** The last part of the bundle's name, after the signer name. */
  public static final String NAME_SUFFIX = "ca-bundle";

  private static final Logger LOG = LoggerFactory.getLogger(ClusterTrustBundlePublisher.class);

  private final KubernetesClient client;
  private final String signerName;
  private final String name;
  private final String version;
  private final Object lock = new Object();
  private String bundlePem;
  private SharedIndexInformer<GenericKubernetesResource> informer;
  private WorkQueue queue;

  /**
   * @param client     the client to act with
   * @param signerName the signer whose trust anchors these are, {@code <domain>/<path>}
   * @param bundle     the CA certificates to publish, at least one
   * @param version    the API version to speak, {@code v1} or {@code v1beta1} (see {@link #requireServed})
   */
  public ClusterTrustBundlePublisher(KubernetesClient client, String signerName, List<X509Certificate> bundle,
      String version) {
    this.client = Objects.requireNonNull(client, "client");
    this.signerName = RequestRules.requireSignerName(signerName);
    this.name = bundleName(signerName);
    this.bundlePem = Publishing.encode(bundle);
    if (!CertificatesApi.VERSIONS.contains(Objects.requireNonNull(version, "version"))) {
      throw new IllegalArgumentException("version must be one of " + CertificatesApi.VERSIONS + ", was " + version);
    }
    this.version = version;
  }

  /**
   * The name of the bundle linked to {@code signerName}: the signer name with {@code '/'} replaced
   * by {@code ':'}, then {@code ':'} and {@value #NAME_SUFFIX}, e.g.
   * {@code kube-mtls.dev:workload:ca-bundle} (the API server's rule for signer-linked bundles).
   */
  public static String bundleName(String signerName) {
    return RequestRules.requireSignerName(signerName).replace('/', ':') + ":" + NAME_SUFFIX;
  }

  /**
   * The version in which the cluster serves ClusterTrustBundles ({@code v1} preferred, else
   * {@code v1beta1}), found through API discovery, which every authenticated user may read.
   *
   * @throws IllegalStateException naming the cluster's version and how to enable the API
   */
  public static String requireServed(KubernetesClient client) {
    return CertificatesApi.requireServed(client, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE,
        "--cluster-trust-bundle=true (or set it to false)");
  }

  /** The bundle's name. */
  public String name() {
    return name;
  }

  /**
   * Starts watching and publishing, without waiting. The returned future completes once the first
   * list arrived, or exceptionally if the informer cannot start.
   *
   * @throws IllegalStateException if already started
   */
  public CompletableFuture<Void> start() {
    synchronized (lock) {
      if (queue != null) {
        throw new IllegalStateException("already started");
      }
      queue = new WorkQueue("cluster-trust-bundle", 1, Duration.ofMillis(100), Duration.ofSeconds(30),
          key -> reconcile());
      informer = ClusterTrustBundles.resources(client, version).withField("metadata.name", name)
          .runnableInformer(0);
    }
    informer.addEventHandler(Publishing.enqueue(queue, ctb -> name));
    return informer.start().toCompletableFuture().thenRun(() -> queue.add(name))
        .whenComplete((ok, error) -> {
          if (error != null) {
            LOG.error("cannot list and watch ClusterTrustBundle {}: {}", name, error.toString());
          }
        });
  }

  /** Replaces the published CA certificates (e.g. during a CA rotation) and republishes them. */
  public void setBundle(List<X509Certificate> bundle) {
    String pem = Publishing.encode(bundle);
    WorkQueue q;
    synchronized (lock) {
      bundlePem = pem;
      q = queue;
    }
    if (q != null) {
      q.add(name);
    }
  }

  /** The PEM text currently published. */
  public String bundlePem() {
    synchronized (lock) {
      return bundlePem;
    }
  }

  private WorkQueue.Outcome reconcile() {
    String pem = bundlePem();
    GenericKubernetesResource current = informer.getStore().getByKey(name);
    try {
      if (current == null) {
        GenericKubernetesResource created = ClusterTrustBundles.newBundle(version, name, signerName, pem);
        created.getMetadata().setLabels(Map.of(TrustBundlePublisher.MANAGED_BY_LABEL, TrustBundlePublisher.MANAGED_BY));
        ClusterTrustBundles.resources(client, version).resource(created).create();
        LOG.info("published the trust bundle as ClusterTrustBundle {} ({})", name, CertificatesApi.apiVersion(version));
        return WorkQueue.Outcome.DONE;
      }
      Map<String, String> labels = current.getMetadata().getLabels();
      boolean labelled = labels != null
          && TrustBundlePublisher.MANAGED_BY.equals(labels.get(TrustBundlePublisher.MANAGED_BY_LABEL));
      if (labelled && pem.equals(ClusterTrustBundles.trustBundle(current))) {
        return WorkQueue.Outcome.DONE;
      }
      // The resourceVersion read goes along: a concurrent change is a 409, and the informer brings it.
      GenericKubernetesResource updated = ClusterTrustBundles.withTrustBundle(current, pem);
      Map<String, String> newLabels = new LinkedHashMap<>(labels == null ? Map.of() : labels);
      newLabels.put(TrustBundlePublisher.MANAGED_BY_LABEL, TrustBundlePublisher.MANAGED_BY);
      updated.getMetadata().setLabels(newLabels);
      ClusterTrustBundles.resources(client, version).resource(updated).update();
      LOG.info("updated the trust bundle in ClusterTrustBundle {}", name);
      return WorkQueue.Outcome.DONE;
    } catch (KubernetesClientException e) {
      return Publishing.afterFailure(e, "ClusterTrustBundle " + name, LOG);
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
      informer.close();
    }
  }
}
