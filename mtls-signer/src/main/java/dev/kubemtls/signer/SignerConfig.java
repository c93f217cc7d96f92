package dev.kubemtls.signer;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.peer.SpiffeId;
import dev.kubemtls.signer.internal.RequestRules;
import dev.kubemtls.signer.internal.ValidityPolicy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a signer replica ({@link SignerMain}) needs to know besides its client and CA: whom it
 * signs for, where the CA lives, where the trust bundle goes, how long certificates last, which
 * approval policy applies and how replicas elect a leader.
 *
 * <p>Build one with {@link #builder(String)}, or read one from command-line flags and environment
 * variables with {@link #parse(List, Map)}; every flag {@code --some-flag} has the environment
 * variable {@code KUBE_MTLS_SOME_FLAG}, and the flag wins; {@code SignerMain --help} lists them
 * with their defaults. Invalid values are rejected with an {@link IllegalArgumentException} that names the
 * flag.
 *
 * @param signerName          the {@code spec.signerName} this signer serves, {@code <domain>/<path>}
 * @param caSecretNamespace   namespace of the {@code kubernetes.io/tls} Secret with the CA
 * @param caSecretName        name of that Secret
 * @param bundleConfigMapName name of the trust-bundle ConfigMap in each opted-in namespace
 * @param bundleKey           key of the PEM bundle in that ConfigMap
 * @param namespaceLabel      the opt-in label of namespaces, {@code key=value}
 * @param minTtl              the shortest lifetime issued ({@code --min-ttl}); positive. A request's
 *                            {@code spec.expirationSeconds} is clamped to {@code [minTtl, maxTtl]}
 * @param maxTtl              the longest lifetime issued, and the lifetime of a request that states
 *                            none ({@code --max-ttl}); at least {@code minTtl}, at most 30 days
 * @param backdate            how far {@code notBefore} is moved into the past to tolerate clock skew
 *                            ({@code --backdate}), at most half the lifetime; zero or positive
 * @param policyMode          strict or loose approval
 * @param trustDomain         the SPIFFE trust domain
 * @param clusterDomain       the cluster's DNS domain
 * @param leaseNamespace      namespace of the leader-election Lease
 * @param leaseName           name of the Lease
 * @param identity            this replica's identity in the Lease
 * @param leaseDuration       how long a leader's Lease lasts without renewal
 * @param renewDeadline       how long a leader keeps trying to renew before it stops acting
 * @param retryPeriod         how often candidates try to acquire and leaders renew
 * @param workers             concurrent CSR workers
 * @param caPropagationDelay  how long a new CA is in the published bundle before it signs
 * @param caRetentionMargin   how long a former CA stays trusted beyond the maximum certificate
 *                            lifetime after its last signature (a margin for clock skew)
 * @param clusterTrustBundle  whether the leader also publishes the bundle as a ClusterTrustBundle
 *                            linked to the signer name: where the cluster serves them
 *                            ({@code auto}), always, or never
 * @param maxNames            the most subject alternative names a request may hold, 1 to 256
 * @param lookups             how the approver reads Pods and Services: from cluster-wide informer
 *                            caches or with a GET and a LIST per request
 * @param podCertificates     whether the leader also serves the PodCertificateRequests of the
 *                            signer name (the kubelet's {@code podCertificate} volumes), in
 *                            {@code certificates.k8s.io/v1} or, where only that is served,
 *                            {@code v1beta1}
 * @param bareServiceNames    whether the strict policy issues the bare Service name {@code svc}
 *                            besides its namespaced forms; off by default
 * @param approve             whether this signer approves or denies pending requests itself (on by
 *                            default); off, it leaves them to another approver (a person with
 *                            {@code kubectl certificate approve}, an approving controller) and signs
 *                            those approved only after its own policy agrees, as it does for every
 *                            request approved elsewhere
 */
public record SignerConfig(String signerName, String caSecretNamespace, String caSecretName,
    String bundleConfigMapName, String bundleKey, String namespaceLabel, Duration minTtl, Duration maxTtl,
    Duration backdate, PolicyMode policyMode, String trustDomain, String clusterDomain, String leaseNamespace,
    String leaseName, String identity, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
    int workers, Duration caPropagationDelay, Duration caRetentionMargin, Publication clusterTrustBundle,
    int maxNames, LookupMode lookups, boolean podCertificates, boolean bareServiceNames, boolean approve) {

  /** How the approver decides which names a requester may have ({@code --policy}). */
  public enum PolicyMode {
    /** Names of Services that select the requesting Pod. */
    STRICT,
    /** Any name under the requester's namespace. */
    LOOSE
  }

  /** Whether something is published: where the cluster serves its API, always, or never. */
  public enum Publication {
    /** Where the cluster serves the API (found through discovery when the signer starts). */
    AUTO,
    /** Always; the signer refuses to start where the cluster does not serve the API. */
    ON,
    /** Never. */
    OFF
  }

  /** How the approver reads the requesting Pod and the Services of its namespace. */
  public enum LookupMode {
    /**
     * From cluster-wide Pod and Service informers, with a live read before any denial that depends on
     * them; needs list and watch on pods and services in every namespace.
     */
    CACHE,
    /** A GET of the Pod and a LIST of the namespace's Services per request; needs get pods, list services. */
    REQUEST
  }

  /** Validates every field; the messages name the flag. */
  public SignerConfig {
    RequestRules.requireSignerName(signerName);
    KubernetesNames.requireDnsLabel("--ca-secret-namespace", caSecretNamespace);
    KubernetesNames.requireDnsSubdomain("--ca-secret-name", caSecretName);
    KubernetesNames.requireDnsSubdomain("--bundle-configmap", bundleConfigMapName);
    Objects.requireNonNull(bundleKey, "--bundle-key");
    if (!bundleKey.matches("[-._A-Za-z0-9]{1,253}")) {
      throw new IllegalArgumentException("--bundle-key" + " '" + bundleKey + "' is not a valid ConfigMap key");
    }
    requireLabel(namespaceLabel);
    new ValidityPolicy(minTtl, maxTtl, backdate); // checks the three lifetimes, as the signer uses them
    Objects.requireNonNull(policyMode, "--policy");
    try {
      new SpiffeId(Objects.requireNonNull(trustDomain, "--trust-domain"), "");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--trust-domain" + ": " + e.getMessage(), e);
    }
    KubernetesNames.requireDnsSubdomain("--cluster-domain", clusterDomain);
    KubernetesNames.requireDnsLabel("--lease-namespace", leaseNamespace);
    KubernetesNames.requireDnsSubdomain("--lease-name", leaseName);
    Objects.requireNonNull(identity, "--identity");
    if (identity.isBlank()) {
      throw new IllegalArgumentException("--identity" + " must not be blank");
    }
    requirePositive("--lease-duration", leaseDuration);
    requirePositive("--renew-deadline", renewDeadline);
    requirePositive("--retry-period", retryPeriod);
    if (renewDeadline.compareTo(leaseDuration) >= 0) {
      throw new IllegalArgumentException("--renew-deadline" + " (" + renewDeadline + ") must be shorter than "
          + "--lease-duration" + " (" + leaseDuration + ")");
    }
    if (retryPeriod.compareTo(renewDeadline) >= 0) {
      throw new IllegalArgumentException("--retry-period" + " (" + retryPeriod + ") must be shorter than "
          + "--renew-deadline" + " (" + renewDeadline + ")");
    }
    if (workers < 1 || workers > 64) {
      throw new IllegalArgumentException("--workers" + " must be between 1 and 64, was " + workers);
    }
    Objects.requireNonNull(caPropagationDelay, "--ca-propagation-delay");
    if (caPropagationDelay.isNegative()) {
      throw new IllegalArgumentException("--ca-propagation-delay" + " must not be negative");
    }
    Objects.requireNonNull(caRetentionMargin, "--ca-retention-margin");
    if (caRetentionMargin.isNegative()) {
      throw new IllegalArgumentException("--ca-retention-margin" + " must not be negative");
    }
    if (maxNames < 1 || maxNames > RequestRules.MAX_NAMES_CEILING) {
      throw new IllegalArgumentException("--max-names" + " must be between 1 and "
          + RequestRules.MAX_NAMES_CEILING + ", was " + maxNames);
    }
    Objects.requireNonNull(lookups, "--lookups");
  }

  /** A builder with every default, for {@code signerName}. */
  public static Builder builder(String signerName) {
    return new Builder(signerName);
  }

  /**
   * How long a former CA stays in the bundle after its last signature: no certificate it signed
   * can be valid after that.
   */
  public Duration caRetention() {
    return maxTtl.plus(caRetentionMargin);
  }

  /**
   * Reads the configuration from {@code --flag=value} or {@code --flag value} arguments, falling
   * back to the {@code KUBE_MTLS_*} environment variables (blank ones count as unset) and then to
   * the defaults; {@code SignerMain --help} lists the flags.
   *
   * @throws IllegalArgumentException naming the flag, for unknown flags, missing required ones and
   *     invalid values
   */
  public static SignerConfig parse(List<String> args, Map<String, String> environment) {
    return SignerFlags.parse(args, environment);
  }

  private static void requireLabel(String label) {
    Objects.requireNonNull(label, "--namespace-label");
    int eq = label.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException("--namespace-label" + " '" + label
          + "' must be key=value with a valid label key and value");
    }
    KubernetesNames.requireLabel("--namespace-label", label.substring(0, eq), label.substring(eq + 1));
  }

  private static void requirePositive(String flag, Duration d) {
    Objects.requireNonNull(d, flag);
    if (d.isZero() || d.isNegative()) {
      throw new IllegalArgumentException(flag + " must be positive, was " + d);
    }
  }

  /** Builds a {@link SignerConfig}, starting from the defaults. */
  public static final class Builder {
    private final String signerName;
    private String caSecretNamespace = "kube-mtls";
    private String caSecretName = "kube-mtls-ca";
    private String bundleConfigMapName = Defaults.TRUST_BUNDLE_CONFIGMAP;
    private String bundleKey = Defaults.TRUST_BUNDLE_KEY;
    private String namespaceLabel = "kube-mtls.dev/inject-bundle=true";
    private Duration minTtl = ValidityPolicy.DEFAULT.minTtl();
    private Duration maxTtl = ValidityPolicy.DEFAULT.maxTtl();
    private Duration backdate = ValidityPolicy.DEFAULT.backdate();
    private PolicyMode policyMode = PolicyMode.STRICT;
    private String trustDomain = "cluster.local";
    private String clusterDomain = "cluster.local";
    private String leaseNamespace;
    private String leaseName = "kube-mtls-signer";
    private String identity = "kube-mtls-signer";
    private Duration leaseDuration = Duration.ofSeconds(15);
    private Duration renewDeadline = Duration.ofSeconds(10);
    private Duration retryPeriod = Duration.ofSeconds(2);
    private int workers = 32;
    private Duration caPropagationDelay = Duration.ofMinutes(5);
    private Duration caRetentionMargin = Duration.ofMinutes(5);
    private Publication clusterTrustBundle = Publication.AUTO;
    private int maxNames = RequestRules.DEFAULT_MAX_NAMES;
    private LookupMode lookups = LookupMode.CACHE;
    private boolean podCertificates;
    private boolean bareServiceNames;
    private boolean approve = true;

    private Builder(String signerName) {
      this.signerName = signerName;
    }

    /** The CA Secret ({@code --ca-secret-namespace}, {@code --ca-secret-name}); also the default Lease namespace. */
    public Builder caSecret(String namespace, String name) {
      this.caSecretNamespace = namespace;
      this.caSecretName = name;
      return this;
    }

    /** The trust-bundle ConfigMap name and key ({@code --bundle-configmap}, {@code --bundle-key}). */
    public Builder bundle(String configMapName, String key) {
      this.bundleConfigMapName = configMapName;
      this.bundleKey = key;
      return this;
    }

    /** The opt-in label of namespaces, {@code key=value} ({@code --namespace-label}). */
    public Builder namespaceLabel(String keyEqualsValue) {
      this.namespaceLabel = keyEqualsValue;
      return this;
    }

    /**
     * Lifetime limits of issued certificates ({@code --min-ttl}, {@code --max-ttl},
     * {@code --backdate}); by default 10 minutes to 24 hours, backdated by 5 minutes.
     */
    public Builder validity(Duration minTtl, Duration maxTtl, Duration backdate) {
      this.minTtl = minTtl;
      this.maxTtl = maxTtl;
      this.backdate = backdate;
      return this;
    }

    /** The approval policy ({@code --policy}); default {@link PolicyMode#STRICT}. */
    public Builder policy(PolicyMode mode) {
      this.policyMode = mode;
      return this;
    }

    /** The SPIFFE trust domain ({@code --trust-domain}). */
    public Builder trustDomain(String trustDomain) {
      this.trustDomain = trustDomain;
      return this;
    }

    /** The cluster DNS domain ({@code --cluster-domain}). */
    public Builder clusterDomain(String clusterDomain) {
      this.clusterDomain = clusterDomain;
      return this;
    }

    /** The leader Lease and this replica's identity in it. */
    public Builder lease(String namespace, String name, String identity) {
      this.leaseNamespace = namespace;
      this.leaseName = name;
      this.identity = identity;
      return this;
    }

    /** Lease duration, renew deadline and retry period; each shorter than the one before. */
    public Builder leaderElectionTiming(Duration leaseDuration, Duration renewDeadline, Duration retryPeriod) {
      this.leaseDuration = leaseDuration;
      this.renewDeadline = renewDeadline;
      this.retryPeriod = retryPeriod;
      return this;
    }

    /** Concurrent CSR workers, 1 to 64. */
    public Builder workers(int workers) {
      this.workers = workers;
      return this;
    }

    /** CA rotation timing: trust a new CA this long before it signs; keep a former one this long past the max TTL. */
    public Builder caRotation(Duration propagationDelay, Duration retentionMargin) {
      this.caPropagationDelay = propagationDelay;
      this.caRetentionMargin = retentionMargin;
      return this;
    }

    /**
     * Whether the leader also publishes a ClusterTrustBundle ({@code --cluster-trust-bundle}):
     * {@code true} always, {@code false} never; by default where the cluster serves them.
     */
    public Builder clusterTrustBundle(boolean publish) {
      this.clusterTrustBundle = publish ? Publication.ON : Publication.OFF;
      return this;
    }

    /** The most SANs one request may hold ({@code --max-names}), 1 to 256; default 64. */
    public Builder maxNames(int maxNames) {
      this.maxNames = maxNames;
      return this;
    }

    /** How the approver reads Pods and Services ({@code --lookups}); default {@link LookupMode#CACHE}. */
    public Builder lookups(LookupMode lookups) {
      this.lookups = lookups;
      return this;
    }

    /** Whether the leader also serves PodCertificateRequests ({@code --pod-certificates}); off by default. */
    public Builder podCertificates(boolean serve) {
      this.podCertificates = serve;
      return this;
    }

    /** Whether the strict policy also issues bare Service names ({@code --bare-service-names}); off by default. */
    public Builder bareServiceNames(boolean bare) {
      this.bareServiceNames = bare;
      return this;
    }

    /**
     * Whether this signer approves or denies pending requests itself ({@code --approve}); on by
     * default. Off, requests wait for another approver, and the signer signs the approved ones its
     * policy allows.
     */
    public Builder approve(boolean approve) {
      this.approve = approve;
      return this;
    }

    /** Validates and builds. */
    public SignerConfig build() {
      return new SignerConfig(signerName, caSecretNamespace, caSecretName, bundleConfigMapName, bundleKey,
          namespaceLabel, minTtl, maxTtl, backdate, policyMode, trustDomain, clusterDomain,
          leaseNamespace == null ? caSecretNamespace : leaseNamespace, leaseName, identity, leaseDuration,
          renewDeadline, retryPeriod, workers, caPropagationDelay, caRetentionMargin, clusterTrustBundle, maxNames,
          lookups, podCertificates, bareServiceNames, approve);
    }
  }
}
