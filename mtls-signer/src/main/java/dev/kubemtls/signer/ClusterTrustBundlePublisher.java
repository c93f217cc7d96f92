package dev.kubemtls.signer;

import dev.kubemtls.signer.internal.Publishing;
import dev.kubemtls.signer.internal.WorkQueue;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the trust bundle, the PEM of every CA certificate workloads should trust, as one
 * ClusterTrustBundle ({@code certificates.k8s.io/v1beta1}) linked to the signer name, and keeps it
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
 * <p>The API is beta and off by default (Kubernetes 1.33+, the {@code ClusterTrustBundle} feature
 * gate and {@code --runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true});
 * {@link #requireServed} tells whether the cluster serves it. Permissions: create
 * {@code clustertrustbundles}; get, list, watch and update the bundle by name; {@code attest} on
 * the signer name. Create with the constructor, then {@link #start}; {@link #close} stops it.
 */
public final class ClusterTrustBundlePublisher implements AutoCloseable {

  /** The last part of the bundle's name, after the signer name. */
  public static final String NAME_SUFFIX = "ca-bundle";

  private static final Logger LOG = LoggerFactory.getLogger(ClusterTrustBundlePublisher.class);

  private final KubernetesClient client;
  private final String signerName;
  private final String name;
  private final Object lock = new Object();
  private String bundlePem;
  private SharedIndexInformer<ClusterTrustBundle> informer;
  private WorkQueue queue;

  /**
   * @param client     the client to act with
   * @param signerName the signer whose trust anchors these are, {@code <domain>/<path>}
   * @param bundle     the CA certificates to publish, at least one
   */
  public ClusterTrustBundlePublisher(KubernetesClient client, String signerName, List<X509Certificate> bundle) {
    this.client = Objects.requireNonNull(client, "client");
    this.signerName = SignerConfig.requireSignerName(signerName);
    this.name = bundleName(signerName);
    this.bundlePem = Publishing.encode(bundle);
  }

  /**
   * The name of the bundle linked to {@code signerName}: the signer name with {@code '/'} replaced
   * by {@code ':'}, then {@code ':'} and {@value #NAME_SUFFIX}, e.g.
   * {@code kube-mtls.dev:workload:ca-bundle} (the API server's rule for signer-linked bundles).
   */
  public static String bundleName(String signerName) {
    return SignerConfig.requireSignerName(signerName).replace('/', ':') + ":" + NAME_SUFFIX;
  }

  /**
   * Fails unless the cluster serves ClusterTrustBundles in {@code certificates.k8s.io/v1beta1}
   * (API discovery, which every authenticated user may read).
   *
   * @throws IllegalStateException saying how to enable the API
   */
  public static void requireServed(KubernetesClient client) {
    requireServed(client, "certificates.k8s.io/v1beta1");
  }

  static void requireServed(KubernetesClient client, String apiVersion) {
    if (!client.supports(apiVersion, "ClusterTrustBundle")) {
      throw new IllegalStateException("the cluster does not serve ClusterTrustBundles (" + apiVersion + "),"
          + " which " + SignerConfig.Flag.CLUSTER_TRUST_BUNDLE.flag() + "=true needs: the API is beta and off by"
          + " default; enable it on the kube-apiserver (Kubernetes 1.33+) with --feature-gates=ClusterTrustBundle=true"
          + " and --runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true, or set "
          + SignerConfig.Flag.CLUSTER_TRUST_BUNDLE.flag() + "=false");
    }
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
      informer = client.certificates().v1beta1().clusterTrustBundles().withField("metadata.name", name)
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
    ClusterTrustBundle current = informer.getStore().getByKey(name);
    try {
      if (current == null) {
        client.certificates().v1beta1().clusterTrustBundles().resource(new ClusterTrustBundleBuilder()
            .withNewMetadata().withName(name)
            .addToLabels(TrustBundlePublisher.MANAGED_BY_LABEL, TrustBundlePublisher.MANAGED_BY).endMetadata()
            .withNewSpec().withSignerName(signerName).withTrustBundle(pem).endSpec().build()).create();
        LOG.info("published the trust bundle as ClusterTrustBundle {}", name);
        return WorkQueue.Outcome.DONE;
      }
      Map<String, String> labels = current.getMetadata().getLabels();
      boolean labelled = labels != null
          && TrustBundlePublisher.MANAGED_BY.equals(labels.get(TrustBundlePublisher.MANAGED_BY_LABEL));
      if (labelled && current.getSpec() != null && pem.equals(current.getSpec().getTrustBundle())) {
        return WorkQueue.Outcome.DONE;
      }
      // The resourceVersion read goes along: a concurrent change is a 409, and the informer brings it.
      client.certificates().v1beta1().clusterTrustBundles().resource(new ClusterTrustBundleBuilder(current)
          .editMetadata().addToLabels(TrustBundlePublisher.MANAGED_BY_LABEL, TrustBundlePublisher.MANAGED_BY)
          .endMetadata().editOrNewSpec().withTrustBundle(pem).endSpec().build()).update();
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
