package dev.kubemtls.kubernetes;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.rotation.Health;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.kubernetes.csr.CertificateIssuer;
import dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource;
import dev.kubemtls.kubernetes.trust.ConfigMapTrustSource;
import dev.kubemtls.kubernetes.trust.TrustBundles;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * mTLS for one pod in a few lines: the quick-start entry point that wires a
 * {@link CertificateIssuer}, a {@link ConfigMapTrustSource} and a {@link CertificateManager}.
 *
 * <pre>{@code
 * try (KubernetesClient client = new KubernetesClientBuilder().build();
 *      KubeMtls tls = KubeMtls.forWorkload(client)
 *          .services("orders")                      // SANs: orders.<ns>, orders.<ns>.svc, ...
 *          .signerName("kube-mtls.dev/workload")
 *          .start()) {
 *   tls.awaitReady(Duration.ofSeconds(60));
 *   // hand `tls` (a MaterialSource) to mtls-netty or mtls-servlet
 * }
 * }</pre>
 *
 * <p>Who the workload is comes from the pod ({@link WorkloadIdentity#fromEnvironment}) unless
 * {@link Builder#identity} says otherwise. The trust bundle, by default, is the ClusterTrustBundles
 * linked to the signer name ({@link ClusterTrustBundleTrustSource}) where the cluster serves them
 * (found through discovery at {@link Builder#start()}: {@code certificates.k8s.io/v1} from
 * Kubernetes 1.37, or the beta where switched on), else the signer's ConfigMap in the workload's own
 * namespace ({@value #DEFAULT_BUNDLE_CONFIGMAP} by default), accepted only with the signer's
 * signature by a CA this workload already trusts ({@link ConfigMapTrustSource}), the first one
 * vouched for by the certificate the signer issued this workload. {@link Builder#trustClusterTrustBundles()}
 * and {@link Builder#trustConfigMap()} choose one of them regardless. The returned object is the {@link MaterialSource}
 * integrations read, reports {@link Health}, and owns what it started: {@link #close()} stops the
 * manager, the trust informer and the manager's scheduler threads (the Kubernetes client stays
 * the caller's). Workloads of one JVM that find ClusterTrustBundles through the same client for the
 * same signer name share one informer (one list, one watch, one cache); the last of them to close
 * stops it.
 */
public final class KubeMtls implements MaterialSource, Health, AutoCloseable {

  /** The ConfigMap the kube-mtls signer publishes its CA bundle in. */
  public static final String DEFAULT_BUNDLE_CONFIGMAP = Defaults.TRUST_BUNDLE_CONFIGMAP;

  private static final AtomicInteger INSTANCES = new AtomicInteger();

  private final WorkloadIdentity identity;
  private final Runnable stopTrust;
  private final CertificateManager manager;
  private final ScheduledExecutorService scheduler;

  private KubeMtls(WorkloadIdentity identity, Runnable stopTrust, CertificateManager manager,
      ScheduledExecutorService scheduler) {
    this.identity = identity;
    this.stopTrust = stopTrust;
    this.manager = manager;
    this.scheduler = scheduler;
  }

  /**
   * Starts configuring the workload that {@code client} authenticates as (in a pod: its
   * ServiceAccount token).
   */
  public static Builder forWorkload(KubernetesClient client) {
    return new Builder(client);
  }

  /** Who this workload is, as named in its certificates. */
  public WorkloadIdentity identity() {
    return identity;
  }

  /** The manager behind this object, for its {@link CertificateManager#status() status}. */
  public CertificateManager manager() {
    return manager;
  }

  /**
   * Blocks until the first certificate and the trust bundle are there.
   *
   * @throws MtlsException if issuance failed for good (e.g. denied) or {@code timeout} passed
   */
  public MtlsMaterial awaitReady(Duration timeout) throws InterruptedException {
    return manager.awaitReady(timeout);
  }

  @Override
  public MtlsMaterial current() {
    return manager.current();
  }

  @Override
  public Optional<MtlsMaterial> currentIfReady() {
    return manager.currentIfReady();
  }

  @Override
  public Subscription subscribe(MaterialListener listener) {
    return manager.subscribe(listener);
  }

  @Override
  public boolean isReady() {
    return manager.isReady();
  }

  @Override
  public Optional<Duration> timeToExpiry() {
    return manager.timeToExpiry();
  }

  @Override
  public Optional<Exception> lastError() {
    return manager.lastError();
  }

  /**
   * Stops renewing and following the bundle. Material already handed out stays usable. An issuance
   * in flight is interrupted and given up; with {@link Builder#deleteRequests(boolean)} its CSR is
   * deleted, for which this waits up to {@value #CLOSE_GRACE_SECONDS} seconds.
   */
  @Override
  public void close() {
    try {
      manager.close();
    } finally {
      try {
        stopTrust.run();
      } finally {
        scheduler.shutdown();
        try {
          scheduler.awaitTermination(CLOSE_GRACE_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } finally {
          scheduler.shutdownNow();
        }
      }
    }
  }

  /** How long {@link #close()} lets an interrupted issuance clean up its CSR. */
  static final long CLOSE_GRACE_SECONDS = 10;

  /** Options of a workload; {@link #signerName} is the only one without a default. */
  public static final class Builder {
    private final KubernetesClient client;
    private WorkloadIdentity identity;
    private List<String> services = List.of();
    private Role role;
    private String signerName;
    private String bundleConfigMap = DEFAULT_BUNDLE_CONFIGMAP;
    private String bundleKey = TrustBundles.DEFAULT_KEY;
    private TrustChoice trustChoice = TrustChoice.AUTO;
    private boolean requireSignedBundle = true;
    private KeyAlgorithm keyAlgorithm = KeyAlgorithm.EC_P256;
    private Duration lifetime = Duration.ofHours(24);
    private Duration issuanceTimeout = Duration.ofMinutes(5);
    private boolean deleteRequests;
    private RotationPolicy policy = RotationPolicy.defaults();
    private ManagerListener listener = ManagerListener.NO_OP;
    private InstantSource clock = InstantSource.system();
    private boolean podEvents = true;
    private java.util.Set<String> finalDenialReasons = dev.kubemtls.core.names.DenialReasons.FINAL;
    private String podUid = System.getenv("POD_UID");

    private Builder(KubernetesClient client) {
      this.client = Objects.requireNonNull(client, "client");
    }

    /** Who the workload is; by default read from the pod ({@link WorkloadIdentity#fromEnvironment}). */
    public Builder identity(WorkloadIdentity identity) {
      this.identity = Objects.requireNonNull(identity, "identity");
      return this;
    }

    /** The Services this workload serves, for the pod-derived identity's DNS names. */
    public Builder services(String... services) {
      this.services = List.of(services);
      return this;
    }

    /** Server, client or both; decides the certificate's usages. Both by default. */
    public Builder role(Role role) {
      this.role = Objects.requireNonNull(role, "role");
      return this;
    }

    /** The signerName of the approver and signer, e.g. {@code kube-mtls.dev/workload}. Required. */
    public Builder signerName(String signerName) {
      this.signerName = Objects.requireNonNull(signerName, "signerName");
      return this;
    }

    /** The name of the CA bundle ConfigMap in the workload's namespace. */
    public Builder trustBundleConfigMap(String name) {
      this.bundleConfigMap = KubernetesNames.requireDnsSubdomain("trustBundleConfigMap", name);
      return this;
    }

    /** The ConfigMap key holding the PEM bundle; {@code ca.crt} by default. */
    public Builder trustBundleKey(String key) {
      this.bundleKey = Objects.requireNonNull(key, "key");
      return this;
    }

    /**
     * Trusts the CAs of the ClusterTrustBundles linked to {@link #signerName} (the kube-mtls signer
     * publishes one where the cluster serves them), whatever discovery says; see
     * {@link ClusterTrustBundleTrustSource}. The default where the cluster serves them
     * ({@code certificates.k8s.io/v1}, stable and on by default from Kubernetes 1.37, or
     * {@code v1beta1} on 1.33 to 1.36 where switched on).
     */
    public Builder trustClusterTrustBundles() {
      this.trustChoice = TrustChoice.CLUSTER_TRUST_BUNDLES;
      return this;
    }

    /**
     * Trusts the signer's bundle ConfigMap in the workload's namespace ({@link #trustBundleConfigMap}),
     * whatever discovery says; the default where the cluster serves no ClusterTrustBundles.
     */
    public Builder trustConfigMap() {
      this.trustChoice = TrustChoice.CONFIG_MAP;
      return this;
    }

    /**
     * Whether a ConfigMap bundle must carry the signer's signature by a CA this workload already
     * trusts (see {@link ConfigMapTrustSource}); true by default. {@code false} only for a signer
     * that does not sign its bundles: then anyone who may write ConfigMaps in the namespace can add
     * a CA that this workload trusts.
     */
    public Builder requireSignedBundle(boolean require) {
      this.requireSignedBundle = require;
      return this;
    }

    public Builder keyAlgorithm(KeyAlgorithm keyAlgorithm) {
      this.keyAlgorithm = Objects.requireNonNull(keyAlgorithm, "keyAlgorithm");
      return this;
    }

    /**
     * The lifetime to ask for ({@code expirationSeconds}, at least 600 s); the signer may shorten
     * it. 24 hours by default.
     */
    public Builder certificateLifetime(Duration lifetime) {
      this.lifetime = Objects.requireNonNull(lifetime, "lifetime");
      return this;
    }

    /** How long one request may wait for approval and signature; five minutes by default. */
    public Builder issuanceTimeout(Duration timeout) {
      this.issuanceTimeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * Whether the workload deletes its CSRs once it is done with them (issued, or given up after a
     * timeout or at {@link KubeMtls#close()}). Off by default: kube-controller-manager's CSR cleaner
     * removes issued requests an hour after approval and pending ones after 24 hours. Turning it on
     * needs the ClusterRole {@code kube-mtls-workload-csr-cleanup}, which lets the workload delete
     * any CSR in the cluster; see {@link CertificateIssuer.Builder#deleteRequests(boolean)}.
     */
    public Builder deleteRequests(boolean deleteRequests) {
      this.deleteRequests = deleteRequests;
      return this;
    }

    /** When to renew and how to back off; {@link RotationPolicy#defaults()} by default. */
    public Builder rotationPolicy(RotationPolicy policy) {
      this.policy = Objects.requireNonNull(policy, "policy");
      return this;
    }

    /**
     * The approver's denial reasons that end the first issuance at once ({@link KubeMtls#awaitReady}
     * throws the {@link dev.kubemtls.core.CertificateDeniedException}, no further request is made);
     * kube-mtls' approver's {@link dev.kubemtls.core.names.DenialReasons#FINAL final reasons} by
     * default. Give an empty set to retry every denial. Renewals retry whatever the reason.
     */
    public Builder finalDenialReasons(java.util.Collection<String> reasons) {
      this.finalDenialReasons = java.util.Set.copyOf(reasons);
      return this;
    }

    /** Told of issuance, renewals, failures, expiry and trust changes (metrics, logs). */
    public Builder listener(ManagerListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /**
     * Whether issuance, failed or denied renewals, expiry and held-back trust changes are recorded as
     * Events on the workload's Pod ({@link PodEvents}); on by default, and only when the pod name is
     * known. Needs create on events in the namespace; without it the workload logs once and goes on.
     */
    public Builder podEvents(boolean record) {
      this.podEvents = record;
      return this;
    }

    /**
     * The Pod's UID for its Events, so that {@code kubectl describe pod} lists them; by default the
     * environment variable {@code POD_UID} (downward API {@code fieldRef: metadata.uid}).
     */
    public Builder podUid(String podUid) {
      this.podUid = podUid;
      return this;
    }

    /** The clock for validity checks and renewal times; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Validates the options, starts following the trust bundle and requests the first
     * certificate. Returns at once; see {@link KubeMtls#awaitReady}.
     *
     * @throws IllegalArgumentException naming the option that is wrong
     * @throws IllegalStateException    if no identity was given and this is not a pod
     */
    public KubeMtls start() {
      if (signerName == null) {
        throw new IllegalArgumentException("signerName is required: the signerName your cluster's kube-mtls"
            + " signer handles, e.g. kube-mtls.dev/workload");
      }
      WorkloadIdentity id = identity;
      if (id == null) {
        WorkloadIdentity.Builder b = WorkloadIdentity.builderFromEnvironment(System::getenv,
            WorkloadIdentity.SERVICE_ACCOUNT_DIR).services(services);
        if (role != null) {
          b.role(role);
        }
        id = b.build();
      } else if (role != null && id.role() != role) {
        id = id.toBuilder().role(role).build();
      }
      CertificateIssuer issuer = CertificateIssuer.builder(HttpWatchClients.of(client), id, signerName)
          .keyAlgorithm(keyAlgorithm).expiration(lifetime).timeout(issuanceTimeout).deleteRequests(deleteRequests)
          .clock(clock).build();
      int n = INSTANCES.incrementAndGet();
      ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(2, r -> {
        Thread t = new Thread(r, "kube-mtls-" + n);
        t.setDaemon(true);
        return t;
      });
      scheduler.setRemoveOnCancelPolicy(true);
      // Both threads are busy only at start (the first CSR and the trust discovery) and at renewals;
      // an idle one ends after a second, and with it what it holds (its JSON buffers), so a running
      // workload keeps one (the pending timers keep at least one alive). Between issuances the pool's
      // core size is one: a scheduler below its core size starts a thread for every task it is given,
      // and the manager's timers re-arm every few seconds, which made an idle workload start (and end
      // a second later) a thread every few seconds.
      scheduler.setKeepAliveTime(1, TimeUnit.SECONDS);
      scheduler.allowCoreThreadTimeOut(true);
      scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
      WorkloadIdentity who = id;
      Supplier<ClusterTrustBundleTrustSource> clusterTrustBundleSource =
          () -> ClusterTrustBundleTrustSource.builder(client, signerName).clock(clock).build();
      // The discovery has found the version already: the source does not ask again. One source per
      // client, signer name, version and clock in the JVM, shared by the workloads that follow it.
      java.util.function.BiFunction<String, TrustSource.Listener, SharedClusterTrustBundles.Lease>
          discoveredClusterTrustBundleSource = (version, listener) -> SharedClusterTrustBundles.acquire(client,
              signerName, version, clock, listener);
      Supplier<ConfigMapTrustSource> configMapSource = () -> ConfigMapTrustSource.builder(client, who.namespace(),
          bundleConfigMap).key(bundleKey).clock(clock).requireSignature(requireSignedBundle).build();
      TrustSource trust;
      Runnable startTrust;
      Runnable stopTrust;
      java.util.function.Consumer<List<java.security.cert.X509Certificate>> vouch = chain -> { };
      switch (trustChoice) {
        case CLUSTER_TRUST_BUNDLES -> {
          ClusterTrustBundleTrustSource ctb = clusterTrustBundleSource.get();
          trust = ctb;
          startTrust = ctb::start;
          stopTrust = ctb::close;
        }
        case CONFIG_MAP -> {
          ConfigMapTrustSource cm = configMapSource.get();
          trust = cm;
          startTrust = cm::start;
          stopTrust = cm::close;
          vouch = cm::vouch;
        }
        default -> {
          // Discovery runs on the scheduler, so start() returns at once (and the CSR is already in flight).
          DiscoveredTrust discovered = new DiscoveredTrust(client, discoveredClusterTrustBundleSource, configMapSource,
              scheduler);
          trust = discovered;
          startTrust = discovered::start;
          stopTrust = discovered::close;
          vouch = discovered::vouch;
        }
      }
      // The chain the signer wrote for this workload's own CSR vouches for the CA that issued it
      // (what the signed bundle ConfigMap needs; harmless for the other sources).
      java.util.function.Consumer<List<java.security.cert.X509Certificate>> vouchWith = vouch;
      ManagerListener vouching = new ManagerListener() {
        @Override
        public void issued(dev.kubemtls.core.TlsIdentity identity, Duration took) {
          vouchWith.accept(identity.chain());
        }
      };
      PodEvents events = podEvents && id.podName().isPresent()
          ? new PodEvents(client, id.namespace(), id.podName().get(), podUid, clock, PodEvents.DEFAULT_WINDOW) : null;
      ManagerListener told = events == null ? ManagerListener.all(vouching, listener)
          : ManagerListener.all(vouching, events, listener);
      if (events != null) {
        Runnable trustOnly = stopTrust;
        stopTrust = () -> {
          try {
            trustOnly.run();
          } finally {
            events.close();
          }
        };
      }
      CertificateManager manager;
      try {
        manager = CertificateManager.builder().issuer(twoThreadsWhileIssuing(issuer, scheduler)).trust(trust)
            .scheduler(scheduler)
            .clock(clock).policy(policy).listener(told).finalDenialReasons(finalDenialReasons).build();
        startTrust.run();
        manager.start();
      } catch (RuntimeException e) {
        stopTrust.run();
        scheduler.shutdownNow();
        throw e;
      }
      return new KubeMtls(id, stopTrust, manager, scheduler);
    }
  }

  /**
   * {@code issuer}, run with a second scheduler thread at hand while it waits for the signer (timers,
   * listeners and the trust discovery go on), and with one thread between issuances.
   */
  static dev.kubemtls.core.rotation.IdentityIssuer twoThreadsWhileIssuing(CertificateIssuer issuer,
      ScheduledThreadPoolExecutor scheduler) {
    return new dev.kubemtls.core.rotation.IdentityIssuer() {
      @Override
      public dev.kubemtls.core.TlsIdentity issue(long generation) throws InterruptedException {
        return issue(generation, progress -> { });
      }

      @Override
      public dev.kubemtls.core.TlsIdentity issue(long generation,
          java.util.function.Consumer<dev.kubemtls.core.rotation.IssuanceProgress> progress)
          throws InterruptedException {
        scheduler.setCorePoolSize(2);
        try {
          return issuer.issue(generation, progress);
        } finally {
          scheduler.setCorePoolSize(1);
        }
      }

      @Override
      public String toString() {
        return issuer.toString();
      }
    };
  }

  /** Where the trust bundle comes from. */
  private enum TrustChoice { AUTO, CLUSTER_TRUST_BUNDLES, CONFIG_MAP }

  @Override
  public String toString() {
    return "KubeMtls[" + identity.spiffeId() + ", " + manager.status().state() + "]";
  }
}
