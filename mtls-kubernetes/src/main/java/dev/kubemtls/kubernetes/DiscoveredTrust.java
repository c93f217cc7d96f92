package dev.kubemtls.kubernetes;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.kubernetes.trust.ConfigMapTrustSource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trust source {@link KubeMtls} uses by default: the ClusterTrustBundles of the signer name
 * where the cluster serves them, else the signed bundle ConfigMap, chosen by API discovery on the
 * scheduler, so that {@link KubeMtls.Builder#start()} returns at once and the discovery runs while
 * the first CSR is in flight; its answer is remembered per client for a few minutes
 * ({@link ServedVersions}), so that the workloads a JVM starts one after another ask once. A failed
 * discovery is reported to the listeners (the manager counts it as a rejected trust change) and
 * retried after 1, 2, 4 ... up to 30 seconds. Bundles and
 * problems of the chosen source are passed on as they are; chains to vouch for the ConfigMap
 * source are kept until it exists. Not API.
 */
final class DiscoveredTrust implements TrustSource {

  private static final Logger LOG = LoggerFactory.getLogger(DiscoveredTrust.class);
  private static final Duration MAX_RETRY = Duration.ofSeconds(30);

  private final KubernetesClient client;
  private final BiFunction<String, TrustSource.Listener, SharedClusterTrustBundles.Lease> clusterTrustBundles;
  private final Supplier<ConfigMapTrustSource> configMap;
  private final ScheduledExecutorService scheduler;
  private final ServedVersions servedVersions;
  private final TrustPublisher publisher = new TrustPublisher();
  private final List<List<X509Certificate>> vouched = new ArrayList<>();
  private AutoCloseable chosen;
  private ConfigMapTrustSource chosenConfigMap;
  private int failures;
  private boolean closed;

  DiscoveredTrust(KubernetesClient client,
      BiFunction<String, TrustSource.Listener, SharedClusterTrustBundles.Lease> clusterTrustBundles,
      Supplier<ConfigMapTrustSource> configMap, ScheduledExecutorService scheduler) {
    this(client, clusterTrustBundles, configMap, scheduler, ServedVersions.SHARED);
  }

  /** With the discovery answers of {@code servedVersions} (the JVM's, remembered a few minutes per client). */
  DiscoveredTrust(KubernetesClient client,
      BiFunction<String, TrustSource.Listener, SharedClusterTrustBundles.Lease> clusterTrustBundles,
      Supplier<ConfigMapTrustSource> configMap, ScheduledExecutorService scheduler, ServedVersions servedVersions) {
    this.servedVersions = Objects.requireNonNull(servedVersions, "servedVersions");
    this.client = Objects.requireNonNull(client, "client");
    this.clusterTrustBundles = Objects.requireNonNull(clusterTrustBundles, "clusterTrustBundles");
    this.configMap = Objects.requireNonNull(configMap, "configMap");
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
  }

  /** Starts the discovery on the scheduler. */
  void start() {
    scheduler.execute(this::choose);
  }

  private void choose() {
    synchronized (this) {
      if (closed) {
        return;
      }
    }
    Optional<String> version;
    try {
      version = servedVersions.servedVersion(client, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE);
    } catch (KubernetesClientException e) {
      long delay;
      synchronized (this) {
        if (closed) {
          return;
        }
        delay = Math.min(MAX_RETRY.toSeconds(), 1L << Math.min(failures++, 5));
      }
      MtlsException problem = new MtlsException("cannot tell whether the cluster serves ClusterTrustBundles: API"
          + " discovery at " + client.getMasterUrl() + " failed (HTTP " + e.getCode() + ": " + e.getMessage()
          + "); asking again in " + delay + " s (choose the trust source with trustClusterTrustBundles() or"
          + " trustConfigMap() to skip discovery)", e);
      LOG.warn("{}", problem.getMessage());
      publisher.reportProblem(problem);
      scheduler.schedule(this::choose, delay, TimeUnit.SECONDS);
      return;
    }
    TrustSource.Listener forward = new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        publisher.publish(bundle);
      }

      @Override
      public void onProblem(MtlsException problem) {
        publisher.reportProblem(problem);
      }
    };
    if (version.isPresent()) {
      // The source is shared with every other workload of this JVM that follows the same bundles
      // through the same client; it passes on its current bundle at once if it has one.
      SharedClusterTrustBundles.Lease lease;
      synchronized (this) {
        if (closed) {
          return;
        }
        lease = clusterTrustBundles.apply(version.get(), forward);
        chosen = lease;
      }
      LOG.info("trusting the ClusterTrustBundles of the signer name ({} is served)",
          CertificatesApi.apiVersion(version.get()));
      return;
    }
    synchronized (this) {
      if (closed) {
        return;
      }
      ConfigMapTrustSource source = configMap.get();
      source.subscribe(forward);
      vouched.forEach(source::vouch);
      vouched.clear();
      chosen = source;
      chosenConfigMap = source;
      source.start();
      LOG.info("the cluster serves no ClusterTrustBundles: trusting the signed bundle ConfigMap");
    }
  }

  /** Vouches for the ConfigMap source's bundle with the chain the signer wrote, now or once it is chosen. */
  void vouch(List<X509Certificate> chainFromSigner) {
    ConfigMapTrustSource target;
    synchronized (this) {
      if (chosen == null) {
        vouched.add(List.copyOf(chainFromSigner));
        return;
      }
      target = chosenConfigMap;
    }
    if (target != null) {
      target.vouch(chainFromSigner);
    }
  }

  @Override
  public Optional<TrustBundle> currentIfReady() {
    return publisher.currentIfReady();
  }

  @Override
  public MaterialSource.Subscription subscribe(Listener listener) {
    return publisher.subscribe(listener);
  }

  /** Stops the discovery and the chosen source. */
  void close() {
    AutoCloseable toClose;
    synchronized (this) {
      closed = true;
      toClose = chosen;
    }
    if (toClose != null) {
      try {
        toClose.close();
      } catch (Exception e) {
        LOG.debug("closing the trust source failed", e);
      }
    }
  }

  @Override
  public String toString() {
    synchronized (this) {
      return "DiscoveredTrust[" + (chosen == null ? "discovering" : chosen) + "]";
    }
  }
}
