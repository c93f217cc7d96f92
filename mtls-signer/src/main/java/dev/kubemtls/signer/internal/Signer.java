package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.kubernetes.CertificatesApi;
import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElectionConfigBuilder;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderElector;
import io.fabric8.kubernetes.client.extended.leaderelection.resourcelock.LeaseLock;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One replica of the kube-mtls signer: it approves, signs and publishes the trust bundle while it
 * holds the leader Lease, and does nothing otherwise.
 *
 * <p>{@link #start} joins the leader election on the Lease {@code leaseNamespace/leaseName} and
 * returns. The replica that acquires the Lease starts the CSR controller (approval and signing of
 * the CSRs with its signer name) and the {@link TrustBundlePublisher} (and, where the cluster serves
 * ClusterTrustBundles, or with {@code --cluster-trust-bundle=true}, the
 * {@link ClusterTrustBundlePublisher}); when it loses the Lease
 * (it could not renew within the renew deadline) it stops both before another replica can take over,
 * which happens once the Lease expires, and it stands for election again. {@link #close} stops
 * acting and releases the Lease so that a standby takes over at its next retry.
 *
 * <p>With {@code --pod-certificates=true} the leader also serves the PodCertificateRequests of its
 * signer name, in {@code certificates.k8s.io/v1} where the cluster serves it (Kubernetes 1.37) and
 * in {@code v1beta1} otherwise (1.35 and 1.36, with the beta switched on), which kubelets
 * create for {@code podCertificate} projected volumes: with the same CA (and CA rotation), the same
 * key rules, name ownership rule, lifetime limit and SAN cap as for CSRs, one status update per
 * request ({@code Issued} with the chain and times, or {@code Denied}/{@code Failed} with a reason).
 *
 * <p>The leader also runs the {@link CaRotation} plan: it follows the CA Secret, and when the
 * operator puts a new CA there (by hand or with {@code SignerMain rotate-ca}) the new CA is
 * published first, signs after {@code --ca-propagation-delay}, and the former CA leaves the bundle
 * once {@code --max-ttl} plus {@code --ca-retention-margin} have passed since its last signature.
 * The plan is kept in the Secret {@code <ca-secret>-rotation}, so a new leader resumes it.
 *
 * <p>Everything that must happen exactly once is also guarded by the API server: verdicts and
 * certificates are written with the resourceVersion that was read, and {@code status.certificate}
 * can be set only once.
 */
public final class Signer implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Signer.class);

  private final KubernetesClient client;
  private final SignerConfig config;
  private final CertificateAuthority ca;
  private final InstantSource clock;
  private final SignerListener listener;
  /** The ClusterTrustBundle API version the leader publishes in, or null when it publishes none. */
  private final String clusterTrustBundleVersion;
  private final ExecutorService electionExecutor;
  private final Object lock = new Object();
  /** The PodCertificateRequest version found at start, or null without {@code --pod-certificates}. */
  private final String podCertificateVersion;
  // Written under the lock; volatile so that the probes read them without it: /livez and /readyz
  // must answer while the lock is held across API calls (the start of leading resumes a CA rotation).
  private volatile CsrController controller;
  private volatile PodCertificateController<?> podCertificates;
  private TrustBundlePublisher publisher;
  private ClusterTrustBundlePublisher clusterPublisher;
  private volatile CaKeeper keeper;
  private CsrEvents events;
  private CompletableFuture<?> election;
  private volatile boolean leading;
  private volatile boolean closed;

  private Signer(KubernetesClient client, SignerConfig config, CertificateAuthority ca, InstantSource clock,
      SignerListener listener, String clusterTrustBundleVersion, String podCertificateVersion) {
    this.client = client;
    this.clusterTrustBundleVersion = clusterTrustBundleVersion;
    this.podCertificateVersion = podCertificateVersion;
    this.listener = listener;
    this.config = config;
    this.ca = ca.withValidity(ValidityPolicy.of(config));
    this.clock = clock;
    this.electionExecutor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "kube-mtls-signer-election-" + config.identity());
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Starts a replica: joins the leader election and acts while leading.
   *
   * @param client the client to act with (the signer's own ServiceAccount in a cluster)
   * @param config the configuration
   * @param ca     the CA; its validity policy is replaced by the configuration's
   * @param clock  the time source for condition timestamps and certificates
   * @throws IllegalStateException if the configuration asks for a ClusterTrustBundle or pod
   *     certificates and the cluster does not serve the API (naming its version and what to enable)
   */
  public static Signer start(KubernetesClient client, SignerConfig config, CertificateAuthority ca,
      InstantSource clock) {
    return start(client, config, ca, clock, SignerListener.NONE);
  }

  /** As {@link #start(KubernetesClient, SignerConfig, CertificateAuthority, InstantSource)}, reporting to {@code listener}. */
  public static Signer start(KubernetesClient client, SignerConfig config, CertificateAuthority ca,
      InstantSource clock, SignerListener listener) {
    // Fail at once, not as a publisher retrying forever once elected.
    String bundleVersion = switch (Objects.requireNonNull(config, "config").clusterTrustBundle()) {
      case ON -> ClusterTrustBundlePublisher.requireServed(Objects.requireNonNull(client, "client"));
      case AUTO -> dev.kubemtls.kubernetes.CertificatesApi.servedVersion(Objects.requireNonNull(client, "client"),
          dev.kubemtls.kubernetes.CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE).orElse(null);
      case OFF -> null;
    };
    String podCertificateVersion = null;
    if (config.podCertificates()) {
      podCertificateVersion = requirePodCertificatesServed(Objects.requireNonNull(client, "client"));
    }
    Signer signer = new Signer(Objects.requireNonNull(client, "client"), Objects.requireNonNull(config, "config"),
        Objects.requireNonNull(ca, "ca"), Objects.requireNonNull(clock, "clock"),
        Objects.requireNonNull(listener, "listener"), bundleVersion, podCertificateVersion);
    signer.elect();
    return signer;
  }

  /**
   * Loads the CA from the Secret the configuration names and starts a replica with the system
   * clock, as {@code SignerMain} does.
   *
   * @throws InvalidMaterialException if the CA Secret is missing or unusable
   */
  public static Signer startFromSecret(KubernetesClient client, SignerConfig config, SignerListener listener) {
    Secret secret = client.secrets().inNamespace(config.caSecretNamespace()).withName(config.caSecretName()).get();
    if (secret == null) {
      throw new InvalidMaterialException("Secret " + config.caSecretNamespace() + "/" + config.caSecretName()
          + " does not exist; create a kubernetes.io/tls Secret with the CA (--ca-secret-name,"
          + " --ca-secret-namespace)");
    }
    CertificateAuthority ca = CertificateAuthority.fromSecret(secret, ValidityPolicy.of(config), InstantSource.system(),
        new SecureRandom());
    return start(client, config, ca, InstantSource.system(), listener);
  }

  /**
   * Generates a CA and replaces the content of the CA Secret {@code namespace/name} with it: the
   * trigger of a CA rotation ({@code SignerMain rotate-ca}). The signer keeps the former CA in its
   * rotation state.
   */
  public static CertificateAuthority writeNewCa(KubernetesClient client, String namespace, String name,
      Duration lifetime) {
    CertificateAuthority next = CertificateAuthority.generate("kube-mtls CA " + java.time.Instant.now(), lifetime,
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    client.secrets().inNamespace(namespace).resource(next.toSecret(namespace, name)).update();
    return next;
  }

  /**
   * The version in which the cluster serves PodCertificateRequests ({@code v1}, else
   * {@code v1beta1}), found through discovery; fails with the cluster's version and what to enable
   * when it serves neither: {@code --pod-certificates=true} on such a cluster would otherwise wait for
   * requests that cannot exist.
   */
  static String requirePodCertificatesServed(KubernetesClient client) {
    String version = CertificatesApi.requireServed(client, CertificatesApi.Kind.POD_CERTIFICATE_REQUEST,
        "--pod-certificates=true (or set it to false)");
    LOG.info("serving PodCertificateRequests in {}", CertificatesApi.apiVersion(version));
    return version;
  }

  /** Whether this replica currently holds the Lease and acts. */
  public boolean isLeader() {
    return leading;
  }

  /**
   * How long CSRs may wait while no worker finishes one before {@link #notReady()} reports the leader
   * as stuck.
   */
  public static final Duration STALL_LIMIT = Duration.ofMinutes(2);

  /**
   * Why this replica is not ready, or empty when it is: a standby is ready (as a standby); the
   * leader is ready once its CSR informer has listed every CSR of the signer name and it holds a
   * signing CA, and not ready when it cannot make progress: CSRs waited longer than
   * {@link #STALL_LIMIT} while no worker finished one, or no worker is left. A closed replica is not
   * ready. For {@code /readyz}; reads only volatile state and never waits for the signer's lock.
   */
  public java.util.Optional<String> notReady() {
    if (closed) {
      return java.util.Optional.of("closed");
    }
    CsrController c = controller;
    PodCertificateController pc = podCertificates;
    CaKeeper k = keeper;
    if (!leading || c == null || k == null) {
      return java.util.Optional.empty();
    }
    if (!c.hasSynced()) {
      return java.util.Optional.of("the CSR informer has not synced yet");
    }
    if (pc != null && !pc.hasSynced()) {
      return java.util.Optional.of("the PodCertificateRequest informer has not synced yet");
    }
    if (k.signing() == null) {
      return java.util.Optional.of("no signing CA loaded");
    }
    return c.stalled(STALL_LIMIT);
  }

  /** Whether {@link #close} was called. For {@code /livez}: reads a volatile flag, takes no lock. */
  public boolean isClosed() {
    return closed;
  }

  /** How many CSRs (and PodCertificateRequests) wait for a worker on this replica; 0 on a standby. */
  public int queueDepth() {
    CsrController c = controller;
    PodCertificateController pc = podCertificates;
    return leading && c != null ? c.queueDepth() + (pc == null ? 0 : pc.queueDepth()) : 0;
  }

  /** The CA rotation plan the leader acts on (signing CA, pending, retiring); empty on a standby. */
  public java.util.Optional<CaRotation> caRotation() {
    CaKeeper k;
    synchronized (lock) {
      k = leading ? keeper : null;
    }
    return k == null ? java.util.Optional.empty() : java.util.Optional.ofNullable(k.state());
  }

  /** The identity this replica uses in the Lease. */
  public String identity() {
    return config.identity();
  }

  private void elect() {
    LeaderElector elector = client.leaderElector().withConfig(new LeaderElectionConfigBuilder()
        .withName(config.leaseName())
        .withLock(new LeaseLock(config.leaseNamespace(), config.leaseName(), config.identity()))
        .withLeaseDuration(config.leaseDuration())
        .withRenewDeadline(config.renewDeadline())
        .withRetryPeriod(config.retryPeriod())
        .withReleaseOnCancel()
        .withLeaderCallbacks(new LeaderCallbacks(this::startLeading, this::stopLeading,
            leader -> LOG.info("{}: the signer leader is now {}", config.identity(), leader)))
        .build()).build();
    CompletableFuture<?> future;
    synchronized (lock) {
      if (closed) {
        return;
      }
      future = elector.start();
      election = future;
    }
    future.whenComplete((ok, error) -> {
      synchronized (lock) {
        if (closed) {
          return;
        }
      }
      // Lost the Lease, or the election loop failed: stand again.
      if (error != null && !(error instanceof java.util.concurrent.CancellationException)) {
        LOG.warn("{}: leader election ended with {}; standing again", config.identity(), error.toString());
      }
      electionExecutor.execute(this::elect);
    });
  }

  private void startLeading() {
    synchronized (lock) {
      if (closed || leading) {
        return;
      }
      LOG.info("{}: acquired the Lease {}/{}; approving and signing for {} (signatures: {})", config.identity(),
          config.leaseNamespace(), config.leaseName(), config.signerName(),
          dev.kubemtls.signer.internal.Crypto.describe());
      publisher = new TrustBundlePublisher(client, config.bundleConfigMapName(), config.bundleKey(),
          config.namespaceLabel(), List.of(ca.certificate()),
          List.of(new dev.kubemtls.core.pki.BundleSignatures.Signer(ca.certificate(), ca.keyPair().key())), clock,
          listener);
      keeper = new CaKeeper(client, config, ca, clock, new SecureRandom(), listener);
      CaKeeper signers = keeper;
      TrustBundlePublisher bundles = publisher;
      keeper.onBundle(bundle -> bundles.setBundle(bundle, signers.bundleSigners()));
      if (clusterTrustBundleVersion != null) {
        clusterPublisher = new ClusterTrustBundlePublisher(client, config.signerName(), List.of(ca.certificate()),
            clusterTrustBundleVersion);
        keeper.onBundle(clusterPublisher::setBundle);
      }
      // Resumes a CA rotation where the previous leader left it (a few API calls).
      keeper.start();
      events = new CsrEvents(client, config.identity(), clock);
      controller = new CsrController(client, config.signerName(), ApprovalPolicy.forConfig(config), keeper::signing,
          clock, config.workers(), Duration.ofMinutes(10), listener, config.lookups() == SignerConfig.LookupMode.CACHE,
          events, config.approve());
      if (config.podCertificates()) {
        podCertificates = PodCertificateController.forVersion(podCertificateVersion, client, config.signerName(),
            new PodCertificateRules(config.trustDomain(), config.clusterDomain(), ValidityPolicy.of(config),
                config.maxNames(), config.bareServiceNames()),
            keeper::signing, new dev.kubemtls.signer.internal.ApiClusterView(client), clock, new SecureRandom(),
            config.workers(), Duration.ofMinutes(10), listener);
      }
      leading = true;
      // Neither waits: this runs inside the elector's renewal loop, which must keep its pace.
      publisher.start();
      if (clusterPublisher != null) {
        clusterPublisher.start();
      }
      controller.start();
      if (podCertificates != null) {
        podCertificates.start();
      }
    }
  }

  private void stopLeading() {
    CsrController c;
    PodCertificateController<?> pc;
    TrustBundlePublisher p;
    ClusterTrustBundlePublisher cp;
    CaKeeper k;
    CsrEvents ev;
    synchronized (lock) {
      if (!leading) {
        return;
      }
      leading = false;
      ev = events;
      events = null;
      c = controller;
      pc = podCertificates;
      podCertificates = null;
      p = publisher;
      cp = clusterPublisher;
      k = keeper;
      controller = null;
      publisher = null;
      clusterPublisher = null;
      keeper = null;
    }
    LOG.info("{}: no longer leader; stopped acting", config.identity());
    c.close();
    if (pc != null) {
      pc.close();
    }
    ev.close();
    k.close();
    p.close();
    if (cp != null) {
      cp.close();
    }
  }

  /** Stops acting, releases the Lease and leaves the election. */
  @Override
  public void close() {
    CompletableFuture<?> e;
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      e = election;
    }
    stopLeading();
    if (e != null) {
      e.cancel(true);
    }
    electionExecutor.shutdown();
    try {
      electionExecutor.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
    }
  }
}
