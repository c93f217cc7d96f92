package dev.kubemtls.signer;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.core.peer.SpiffeId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Everything a {@link Signer} needs to know besides its client and CA: whom it signs for, where the
 * CA lives, where the trust bundle goes, how long certificates last, which approval policy applies
 * and how replicas elect a leader.
 *
 * <p>Build one with {@link #builder(String)}, or read one from command-line flags and environment
 * variables with {@link #parse(List, Map)}; every flag {@code --some-flag} has the environment
 * variable {@code KUBE_MTLS_SOME_FLAG}, and the flag wins. {@link Flag} lists them with their
 * defaults. Invalid values are rejected with an {@link IllegalArgumentException} that names the
 * flag.
 *
 * @param signerName          the {@code spec.signerName} this signer serves, {@code <domain>/<path>}
 * @param caSecretNamespace   namespace of the {@code kubernetes.io/tls} Secret with the CA
 * @param caSecretName        name of that Secret
 * @param bundleConfigMapName name of the trust-bundle ConfigMap in each opted-in namespace
 * @param bundleKey           key of the PEM bundle in that ConfigMap
 * @param namespaceLabel      the opt-in label of namespaces, {@code key=value}
 * @param validity            lifetime limits of issued certificates
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
 *                            linked to the signer name ({@link ClusterTrustBundlePublisher}): where
 *                            the cluster serves them ({@code auto}), always, or never
 * @param maxNames            the most subject alternative names a request may hold, 1 to 256
 * @param lookups             how the approver reads Pods and Services: from cluster-wide informer
 *                            caches or with a GET and a LIST per request
 * @param podCertificates     whether the leader also serves the PodCertificateRequests of the
 *                            signer name (the kubelet's {@code podCertificate} volumes), in
 *                            {@code certificates.k8s.io/v1} or, where only that is served,
 *                            {@code v1beta1}
 * @param bareServiceNames    whether the strict policy issues the bare Service name {@code svc}
 *                            ({@link ApprovalPolicy#withBareServiceNames}); off by default
 */
public record SignerConfig(String signerName, String caSecretNamespace, String caSecretName,
    String bundleConfigMapName, String bundleKey, String namespaceLabel, ValidityPolicy validity,
    ApprovalPolicy.Mode policyMode, String trustDomain, String clusterDomain, String leaseNamespace,
    String leaseName, String identity, Duration leaseDuration, Duration renewDeadline, Duration retryPeriod,
    int workers, Duration caPropagationDelay, Duration caRetentionMargin, Publication clusterTrustBundle,
    int maxNames, LookupMode lookups, boolean podCertificates, boolean bareServiceNames) {

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

  private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  /** The configuration flags, their environment variables and defaults. */
  public enum Flag {
    /** the spec.signerName served, &lt;domain&gt;/&lt;path&gt; (required). */
    SIGNER_NAME("signer-name", null, "the spec.signerName served, <domain>/<path> (required)"),
    /** namespace of the kubernetes.io/tls CA Secret (required). */
    CA_SECRET_NAMESPACE("ca-secret-namespace", null, "namespace of the kubernetes.io/tls CA Secret (required)"),
    /** name of the CA Secret. */
    CA_SECRET_NAME("ca-secret-name", "kube-mtls-ca", "name of the CA Secret"),
    /** trust-bundle ConfigMap name. */
    BUNDLE_CONFIGMAP("bundle-configmap", Defaults.TRUST_BUNDLE_CONFIGMAP, "trust-bundle ConfigMap name"),
    /** key of the PEM bundle in the ConfigMap. */
    BUNDLE_KEY("bundle-key", Defaults.TRUST_BUNDLE_KEY, "key of the PEM bundle in the ConfigMap"),
    /** opt-in label of namespaces. */
    NAMESPACE_LABEL("namespace-label", "kube-mtls.dev/inject-bundle=true", "opt-in label of namespaces"),
    /** shortest certificate lifetime. */
    MIN_TTL("min-ttl", "10m", "shortest certificate lifetime"),
    /** longest certificate lifetime (may be below 10m; at most {@link ValidityPolicy#MAX_TTL_CEILING}). */
    MAX_TTL("max-ttl", "24h", "longest certificate lifetime (may be below 10m; at most 30d)"),
    /** how far notBefore is moved back (at most half the lifetime). */
    BACKDATE("backdate", "5m", "how far notBefore is moved back (at most half the lifetime)"),
    /** approval policy: strict or loose. */
    POLICY("policy", "strict", "approval policy: strict or loose"),
    /** SPIFFE trust domain. */
    TRUST_DOMAIN("trust-domain", "cluster.local", "SPIFFE trust domain"),
    /** cluster DNS domain. */
    CLUSTER_DOMAIN("cluster-domain", "cluster.local", "cluster DNS domain"),
    /** namespace of the leader Lease (default: the CA Secret's). */
    LEASE_NAMESPACE("lease-namespace", null, "namespace of the leader Lease (default: the CA Secret's)"),
    /** name of the leader Lease. */
    LEASE_NAME("lease-name", "kube-mtls-signer", "name of the leader Lease"),
    /** this replica's identity (default: $POD_NAME, else $HOSTNAME). */
    IDENTITY("identity", null, "this replica's identity (default: $POD_NAME, else $HOSTNAME)"),
    /** leader Lease duration. */
    LEASE_DURATION("lease-duration", "15s", "leader Lease duration"),
    /** leader renewal deadline. */
    RENEW_DEADLINE("renew-deadline", "10s", "leader renewal deadline"),
    /** leader election retry period. */
    RETRY_PERIOD("retry-period", "2s", "leader election retry period"),
    /** concurrent CSR workers. */
    WORKERS("workers", "32", "concurrent CSR workers (see the README: each waits on two writes per CSR)"),
    /** how long a new CA is trusted before it signs. */
    CA_PROPAGATION_DELAY("ca-propagation-delay", "5m", "how long a new CA is trusted before it signs"),
    /** extra time a former CA stays trusted beyond the max TTL. */
    CA_RETENTION_MARGIN("ca-retention-margin", "5m", "extra time a former CA stays trusted beyond --max-ttl"),
    /** also publish the bundle as a ClusterTrustBundle (certificates.k8s.io/v1, or v1beta1): auto, true or false. */
    CLUSTER_TRUST_BUNDLE("cluster-trust-bundle", "auto",
        "also publish the bundle as a ClusterTrustBundle linked to the signer name (certificates.k8s.io/v1, or"
            + " v1beta1 where only that is served): auto (where the cluster serves it), true or false"),
    /**
     * where /metrics, /livez and /readyz are served, [host]:port or off; read by {@link SignerServer}
     * (SignerMain), not part of this record.
     */
    METRICS_ADDRESS("metrics-address", SignerServer.DEFAULT_ADDRESS,
        "where /metrics, /livez and /readyz are served: [host]:port (port 0 picks one) or off"),
    /**
     * where /livez and /readyz are served instead, [host]:port; unset: with /metrics. Read by
     * {@link SignerServer} (SignerMain), not part of this record.
     */
    PROBE_ADDRESS("probe-address", null,
        "serve /livez and /readyz on this [host]:port instead, /metrics alone on --metrics-address"),
    /** the most subject alternative names one request may hold (1 to 256). */
    MAX_NAMES("max-names", "64", "the most subject alternative names one request may hold (1 to 256)"),
    /** how the approver reads Pods and Services: cache (cluster-wide informers) or request (GET/LIST each time). */
    LOOKUPS("lookups", "cache", "how the approver reads Pods and Services: cache (cluster-wide informers, needs"
        + " list/watch on pods and services) or request (a GET and a LIST per CSR)"),
    /** also serve PodCertificateRequests (certificates.k8s.io/v1, or v1beta1 where only that is served). */
    POD_CERTIFICATES("pod-certificates", "false", "also serve PodCertificateRequests of the signer name"
        + " (certificates.k8s.io/v1, or v1beta1 before Kubernetes 1.37; the kubelet's podCertificate volumes):"
        + " true or false"),
    /** also issue the bare Service name (svc) in strict mode: true or false; a risk, see the README. */
    BARE_SERVICE_NAMES("bare-service-names", "false", "also issue the bare Service name (svc) in strict mode:"
        + " true or false (a risk: a bare name is a different Service in every namespace; see the README)");

    private final String flag;
    private final String defaultValue;
    private final String help;

    Flag(String flag, String defaultValue, String help) {
      this.flag = flag;
      this.defaultValue = defaultValue;
      this.help = help;
    }

    /** The command-line form, {@code --name}. */
    public String flag() {
      return "--" + flag;
    }

    /** The environment variable, {@code KUBE_MTLS_NAME}. */
    public String environmentVariable() {
      return "KUBE_MTLS_" + flag.toUpperCase(Locale.ROOT).replace('-', '_');
    }

    /** The default, or null when the flag is required or computed. */
    public String defaultValue() {
      return defaultValue;
    }

    /** One line of help. */
    public String help() {
      return help;
    }
  }

  /** Validates every field; the messages name the flag. */
  public SignerConfig {
    requireSignerName(signerName);
    KubernetesNames.requireDnsLabel(Flag.CA_SECRET_NAMESPACE.flag(), caSecretNamespace);
    KubernetesNames.requireDnsSubdomain(Flag.CA_SECRET_NAME.flag(), caSecretName);
    KubernetesNames.requireDnsSubdomain(Flag.BUNDLE_CONFIGMAP.flag(), bundleConfigMapName);
    Objects.requireNonNull(bundleKey, Flag.BUNDLE_KEY.flag());
    if (!bundleKey.matches("[-._A-Za-z0-9]{1,253}")) {
      throw new IllegalArgumentException(Flag.BUNDLE_KEY.flag() + " '" + bundleKey + "' is not a valid ConfigMap key");
    }
    requireLabel(namespaceLabel);
    Objects.requireNonNull(validity, "validity");
    Objects.requireNonNull(policyMode, Flag.POLICY.flag());
    try {
      new SpiffeId(Objects.requireNonNull(trustDomain, Flag.TRUST_DOMAIN.flag()), "");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(Flag.TRUST_DOMAIN.flag() + ": " + e.getMessage(), e);
    }
    KubernetesNames.requireDnsSubdomain(Flag.CLUSTER_DOMAIN.flag(), clusterDomain);
    KubernetesNames.requireDnsLabel(Flag.LEASE_NAMESPACE.flag(), leaseNamespace);
    KubernetesNames.requireDnsSubdomain(Flag.LEASE_NAME.flag(), leaseName);
    Objects.requireNonNull(identity, Flag.IDENTITY.flag());
    if (identity.isBlank()) {
      throw new IllegalArgumentException(Flag.IDENTITY.flag() + " must not be blank");
    }
    requirePositive(Flag.LEASE_DURATION, leaseDuration);
    requirePositive(Flag.RENEW_DEADLINE, renewDeadline);
    requirePositive(Flag.RETRY_PERIOD, retryPeriod);
    if (renewDeadline.compareTo(leaseDuration) >= 0) {
      throw new IllegalArgumentException(Flag.RENEW_DEADLINE.flag() + " (" + renewDeadline + ") must be shorter than "
          + Flag.LEASE_DURATION.flag() + " (" + leaseDuration + ")");
    }
    if (retryPeriod.compareTo(renewDeadline) >= 0) {
      throw new IllegalArgumentException(Flag.RETRY_PERIOD.flag() + " (" + retryPeriod + ") must be shorter than "
          + Flag.RENEW_DEADLINE.flag() + " (" + renewDeadline + ")");
    }
    if (workers < 1 || workers > 64) {
      throw new IllegalArgumentException(Flag.WORKERS.flag() + " must be between 1 and 64, was " + workers);
    }
    Objects.requireNonNull(caPropagationDelay, Flag.CA_PROPAGATION_DELAY.flag());
    if (caPropagationDelay.isNegative()) {
      throw new IllegalArgumentException(Flag.CA_PROPAGATION_DELAY.flag() + " must not be negative");
    }
    Objects.requireNonNull(caRetentionMargin, Flag.CA_RETENTION_MARGIN.flag());
    if (caRetentionMargin.isNegative()) {
      throw new IllegalArgumentException(Flag.CA_RETENTION_MARGIN.flag() + " must not be negative");
    }
    if (maxNames < 1 || maxNames > dev.kubemtls.signer.internal.RequestRules.MAX_NAMES_CEILING) {
      throw new IllegalArgumentException(Flag.MAX_NAMES.flag() + " must be between 1 and "
          + dev.kubemtls.signer.internal.RequestRules.MAX_NAMES_CEILING + ", was " + maxNames);
    }
    Objects.requireNonNull(lookups, Flag.LOOKUPS.flag());
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
    return validity.maxTtl().plus(caRetentionMargin);
  }

  /** The approval policy this configuration selects. */
  public ApprovalPolicy approvalPolicy() {
    return ApprovalPolicy.of(policyMode, trustDomain, clusterDomain).withMaxNames(maxNames)
        .withBareServiceNames(bareServiceNames);
  }

  /**
   * Reads the configuration from {@code --flag=value} or {@code --flag value} arguments, falling
   * back to the {@code KUBE_MTLS_*} environment variables and then to the defaults.
   *
   * @throws IllegalArgumentException naming the flag, for unknown flags, missing required ones and
   *     invalid values
   */
  public static SignerConfig parse(List<String> args, Map<String, String> environment) {
    Map<Flag, String> values = new LinkedHashMap<>();
    for (Flag f : Flag.values()) {
      String env = environment.get(f.environmentVariable());
      if (env != null && !env.isBlank()) {
        values.put(f, env.trim());
      }
    }
    List<String> rest = new ArrayList<>(args);
    for (int i = 0; i < rest.size(); i++) {
      String arg = rest.get(i);
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + arg + "': flags have the form --name=value");
      }
      String name = arg;
      String value;
      int eq = arg.indexOf('=');
      if (eq > 0) {
        name = arg.substring(0, eq);
        value = arg.substring(eq + 1);
      } else if (i + 1 < rest.size() && !rest.get(i + 1).startsWith("--")) {
        value = rest.get(++i);
      } else {
        throw new IllegalArgumentException(name + " needs a value");
      }
      Flag flag = null;
      for (Flag f : Flag.values()) {
        if (f.flag().equals(name)) {
          flag = f;
        }
      }
      if (flag == null) {
        throw new IllegalArgumentException("unknown flag " + name + "; known flags: "
            + java.util.Arrays.stream(Flag.values()).map(Flag::flag).toList());
      }
      values.put(flag, value);
    }
    for (Flag f : Flag.values()) {
      if (!values.containsKey(f) && f.defaultValue() != null) {
        values.put(f, f.defaultValue());
      }
    }
    String signerName = required(values, Flag.SIGNER_NAME);
    String caNamespace = required(values, Flag.CA_SECRET_NAMESPACE);
    String identity = values.get(Flag.IDENTITY);
    if (identity == null) {
      identity = firstNonBlank(environment.get("POD_NAME"), environment.get("HOSTNAME"));
      if (identity == null) {
        throw new IllegalArgumentException(Flag.IDENTITY.flag() + " (or " + Flag.IDENTITY.environmentVariable()
            + ", POD_NAME or HOSTNAME) is required");
      }
    }
    Duration minTtl = duration(values, Flag.MIN_TTL);
    Duration maxTtl = duration(values, Flag.MAX_TTL);
    ValidityPolicy validity;
    try {
      validity = new ValidityPolicy(minTtl, maxTtl, duration(values, Flag.BACKDATE));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(Flag.MIN_TTL.flag() + "/" + Flag.MAX_TTL.flag() + ": " + e.getMessage(), e);
    }
    ApprovalPolicy.Mode mode = switch (values.get(Flag.POLICY).toLowerCase(Locale.ROOT)) {
      case "strict" -> ApprovalPolicy.Mode.STRICT;
      case "loose" -> ApprovalPolicy.Mode.LOOSE;
      default -> throw new IllegalArgumentException(Flag.POLICY.flag() + " must be strict or loose, was '"
          + values.get(Flag.POLICY) + "'");
    };
    int workers = integer(values, Flag.WORKERS);
    int maxNames = integer(values, Flag.MAX_NAMES);
    LookupMode lookups = switch (values.get(Flag.LOOKUPS).toLowerCase(Locale.ROOT)) {
      case "cache" -> LookupMode.CACHE;
      case "request" -> LookupMode.REQUEST;
      default -> throw new IllegalArgumentException(Flag.LOOKUPS.flag() + " must be cache or request, was '"
          + values.get(Flag.LOOKUPS) + "'");
    };
    Publication clusterTrustBundle = switch (values.get(Flag.CLUSTER_TRUST_BUNDLE).toLowerCase(Locale.ROOT)) {
      case "auto" -> Publication.AUTO;
      case "true" -> Publication.ON;
      case "false" -> Publication.OFF;
      default -> throw new IllegalArgumentException(Flag.CLUSTER_TRUST_BUNDLE.flag() + " must be auto, true or false,"
          + " was '" + values.get(Flag.CLUSTER_TRUST_BUNDLE) + "'");
    };
    boolean podCertificates = switch (values.get(Flag.POD_CERTIFICATES).toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException(Flag.POD_CERTIFICATES.flag() + " must be true or false, was '"
          + values.get(Flag.POD_CERTIFICATES) + "'");
    };
    boolean bareServiceNames = switch (values.get(Flag.BARE_SERVICE_NAMES).toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException(Flag.BARE_SERVICE_NAMES.flag() + " must be true or false, was '"
          + values.get(Flag.BARE_SERVICE_NAMES) + "'");
    };
    return new SignerConfig(signerName, caNamespace, values.get(Flag.CA_SECRET_NAME),
        values.get(Flag.BUNDLE_CONFIGMAP), values.get(Flag.BUNDLE_KEY), values.get(Flag.NAMESPACE_LABEL), validity,
        mode, values.get(Flag.TRUST_DOMAIN), values.get(Flag.CLUSTER_DOMAIN),
        values.getOrDefault(Flag.LEASE_NAMESPACE, caNamespace), values.get(Flag.LEASE_NAME), identity,
        duration(values, Flag.LEASE_DURATION), duration(values, Flag.RENEW_DEADLINE),
        duration(values, Flag.RETRY_PERIOD), workers, duration(values, Flag.CA_PROPAGATION_DELAY),
        duration(values, Flag.CA_RETENTION_MARGIN), clusterTrustBundle, maxNames, lookups, podCertificates,
        bareServiceNames);
  }

  private static int integer(Map<Flag, String> values, Flag flag) {
    try {
      return Integer.parseInt(values.get(flag).trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(flag.flag() + " must be a number, was '" + values.get(flag) + "'", e);
    }
  }

  /** Parses {@code 90s}, {@code 10m}, {@code 24h}, {@code 500ms}, {@code 7d} or ISO-8601 ({@code PT1H}). */
  static Duration parseDuration(String flag, String text) {
    Matcher m = DURATION.matcher(text.trim());
    if (m.matches()) {
      try {
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          case "h" -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        };
      } catch (NumberFormatException | ArithmeticException e) {
        throw new IllegalArgumentException(flag + ": '" + text + "' is too long a duration", e);
      }
    }
    try {
      return Duration.parse(text.trim());
    } catch (java.time.format.DateTimeParseException e) {
      throw new IllegalArgumentException(flag + ": '" + text + "' is not a duration (use e.g. 90s, 10m, 24h)", e);
    }
  }

  private static Duration duration(Map<Flag, String> values, Flag flag) {
    return parseDuration(flag.flag(), values.get(flag));
  }

  private static String required(Map<Flag, String> values, Flag flag) {
    String v = values.get(flag);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(flag.flag() + " (or " + flag.environmentVariable() + ") is required: "
          + flag.help());
    }
    return v;
  }

  private static String firstNonBlank(String a, String b) {
    if (a != null && !a.isBlank()) {
      return a;
    }
    return b != null && !b.isBlank() ? b : null;
  }

  /** Checks a signer name as {@link Flag#SIGNER_NAME} needs it: the API server's rule, no kubernetes.io names. */
  static String requireSignerName(String signerName) {
    Objects.requireNonNull(signerName, Flag.SIGNER_NAME.flag());
    try {
      return SignerNames.require(signerName, false);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(Flag.SIGNER_NAME.flag() + ": " + e.getMessage(), e);
    }
  }

  private static void requireLabel(String label) {
    Objects.requireNonNull(label, Flag.NAMESPACE_LABEL.flag());
    int eq = label.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException(Flag.NAMESPACE_LABEL.flag() + " '" + label
          + "' must be key=value with a valid label key and value");
    }
    KubernetesNames.requireLabel(Flag.NAMESPACE_LABEL.flag(), label.substring(0, eq), label.substring(eq + 1));
  }

  private static void requirePositive(Flag flag, Duration d) {
    Objects.requireNonNull(d, flag.flag());
    if (d.isZero() || d.isNegative()) {
      throw new IllegalArgumentException(flag.flag() + " must be positive, was " + d);
    }
  }

  /** Builds a {@link SignerConfig}, starting from the defaults. */
  public static final class Builder {
    private final String signerName;
    private String caSecretNamespace = "kube-mtls";
    private String caSecretName = Flag.CA_SECRET_NAME.defaultValue();
    private String bundleConfigMapName = Flag.BUNDLE_CONFIGMAP.defaultValue();
    private String bundleKey = Flag.BUNDLE_KEY.defaultValue();
    private String namespaceLabel = Flag.NAMESPACE_LABEL.defaultValue();
    private ValidityPolicy validity = ValidityPolicy.DEFAULT;
    private ApprovalPolicy.Mode policyMode = ApprovalPolicy.Mode.STRICT;
    private String trustDomain = Flag.TRUST_DOMAIN.defaultValue();
    private String clusterDomain = Flag.CLUSTER_DOMAIN.defaultValue();
    private String leaseNamespace;
    private String leaseName = Flag.LEASE_NAME.defaultValue();
    private String identity = "kube-mtls-signer";
    private Duration leaseDuration = Duration.ofSeconds(15);
    private Duration renewDeadline = Duration.ofSeconds(10);
    private Duration retryPeriod = Duration.ofSeconds(2);
    private int workers = 32;
    private Duration caPropagationDelay = Duration.ofMinutes(5);
    private Duration caRetentionMargin = Duration.ofMinutes(5);
    private Publication clusterTrustBundle = Publication.AUTO;
    private int maxNames = dev.kubemtls.signer.internal.RequestRules.DEFAULT_MAX_NAMES;
    private LookupMode lookups = LookupMode.CACHE;
    private boolean podCertificates;
    private boolean bareServiceNames;

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

    /** Lifetime limits of issued certificates ({@code --min-ttl}, {@code --max-ttl}, {@code --backdate}). */
    public Builder validity(ValidityPolicy validity) {
      this.validity = validity;
      return this;
    }

    /** The approval policy ({@code --policy}). */
    public Builder policy(ApprovalPolicy.Mode mode) {
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

    /** Validates and builds. */
    public SignerConfig build() {
      return new SignerConfig(signerName, caSecretNamespace, caSecretName, bundleConfigMapName, bundleKey,
          namespaceLabel, validity, policyMode, trustDomain, clusterDomain,
          leaseNamespace == null ? caSecretNamespace : leaseNamespace, leaseName, identity, leaseDuration,
          renewDeadline, retryPeriod, workers, caPropagationDelay, caRetentionMargin, clusterTrustBundle, maxNames,
          lookups, podCertificates, bareServiceNames);
    }
  }
}
