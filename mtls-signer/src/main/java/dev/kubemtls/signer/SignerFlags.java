package dev.kubemtls.signer;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.signer.internal.SignerServer;
import dev.kubemtls.signer.internal.ValidityPolicy;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The signer's command line, read by picocli: one annotated field per flag {@code --some-flag},
 * whose environment variable {@code KUBE_MTLS_SOME_FLAG} is its default (blank counts as unset) and
 * whose annotation holds the built-in default; the flag wins over the variable, the variable over
 * the built-in default. Values are converted here (durations such as {@code 90s}, the choices of
 * {@code --policy}, {@code --lookups} and the booleans, case-insensitively); every rule across
 * fields is the {@link SignerConfig} constructor's. {@code @file} expansion and variable
 * interpolation are off: an argument or variable is taken as written.
 */
@Command(name = "SignerMain")
final class SignerFlags {

  private static final Pattern DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  @Option(names = "--signer-name", description = "the spec.signerName served, <domain>/<path> (required)")
  String signerName;
  @Option(names = "--ca-secret-namespace", description = "namespace of the kubernetes.io/tls CA Secret (required)")
  String caSecretNamespace;
  @Option(names = "--ca-secret-name", defaultValue = "kube-mtls-ca", description = "name of the CA Secret")
  String caSecretName;
  @Option(names = "--bundle-configmap", defaultValue = Defaults.TRUST_BUNDLE_CONFIGMAP,
      description = "trust-bundle ConfigMap name")
  String bundleConfigMap;
  @Option(names = "--bundle-key", defaultValue = Defaults.TRUST_BUNDLE_KEY,
      description = "key of the PEM bundle in the ConfigMap")
  String bundleKey;
  @Option(names = "--namespace-label", defaultValue = "kube-mtls.dev/inject-bundle=true",
      description = "opt-in label of namespaces")
  String namespaceLabel;
  @Option(names = "--min-ttl", defaultValue = "10m", description = "shortest certificate lifetime")
  Duration minTtl;
  @Option(names = "--max-ttl", defaultValue = "24h",
      description = "longest certificate lifetime (may be below 10m; at most 30d)")
  Duration maxTtl;
  @Option(names = "--backdate", defaultValue = "5m",
      description = "how far notBefore is moved back (at most half the lifetime)")
  Duration backdate;
  @Option(names = "--policy", defaultValue = "strict", description = "approval policy: strict or loose")
  SignerConfig.PolicyMode policy;
  @Option(names = "--trust-domain", defaultValue = "cluster.local", description = "SPIFFE trust domain")
  String trustDomain;
  @Option(names = "--cluster-domain", defaultValue = "cluster.local", description = "cluster DNS domain")
  String clusterDomain;
  @Option(names = "--lease-namespace", description = "namespace of the leader Lease (default: the CA Secret's)")
  String leaseNamespace;
  @Option(names = "--lease-name", defaultValue = "kube-mtls-signer", description = "name of the leader Lease")
  String leaseName;
  @Option(names = "--identity", description = "this replica's identity (default: $POD_NAME, else $HOSTNAME)")
  String identity;
  @Option(names = "--lease-duration", defaultValue = "15s", description = "leader Lease duration")
  Duration leaseDuration;
  @Option(names = "--renew-deadline", defaultValue = "10s", description = "leader renewal deadline")
  Duration renewDeadline;
  @Option(names = "--retry-period", defaultValue = "2s", description = "leader election retry period")
  Duration retryPeriod;
  @Option(names = "--workers", defaultValue = "32",
      description = "concurrent CSR workers (see the README: each waits on two writes per CSR)")
  int workers;
  @Option(names = "--ca-propagation-delay", defaultValue = "5m",
      description = "how long a new CA is trusted before it signs")
  Duration caPropagationDelay;
  @Option(names = "--ca-retention-margin", defaultValue = "5m",
      description = "extra time a former CA stays trusted beyond --max-ttl")
  Duration caRetentionMargin;
  @Option(names = "--cluster-trust-bundle", defaultValue = "auto", description = "also publish the bundle as a"
      + " ClusterTrustBundle linked to the signer name (certificates.k8s.io/v1, or v1beta1 where only that is"
      + " served): auto (where the cluster serves it), true or false")
  SignerConfig.Publication clusterTrustBundle;
  /** Read by {@link SignerServer#address} (SignerMain); accepted here so that it is a known flag. */
  @Option(names = SignerServer.FLAG, defaultValue = SignerServer.DEFAULT_ADDRESS,
      description = "where /metrics, /livez and /readyz are served: [host]:port (port 0 picks one) or off")
  String metricsAddress;
  /** Read by {@link SignerServer#probeAddress} (SignerMain); accepted here so that it is a known flag. */
  @Option(names = SignerServer.PROBE_FLAG,
      description = "serve /livez and /readyz on this [host]:port instead, /metrics alone on --metrics-address")
  String probeAddress;
  @Option(names = "--max-names", defaultValue = "64",
      description = "the most subject alternative names one request may hold (1 to 256)")
  int maxNames;
  @Option(names = "--lookups", defaultValue = "cache", description = "how the approver reads Pods and Services:"
      + " cache (cluster-wide informers, needs list/watch on pods and services) or request (a GET and a LIST per CSR)")
  SignerConfig.LookupMode lookups;
  @Option(names = "--pod-certificates", defaultValue = "false", arity = "1", description = "also serve"
      + " PodCertificateRequests of the signer name (certificates.k8s.io/v1, or v1beta1 before Kubernetes 1.37;"
      + " the kubelet's podCertificate volumes): true or false")
  boolean podCertificates;
  @Option(names = "--bare-service-names", defaultValue = "false", arity = "1", description = "also issue the bare"
      + " Service name (svc) in strict mode: true or false (a risk: a bare name is a different Service in every"
      + " namespace; see the README)")
  boolean bareServiceNames;
  @Option(names = "--approve", defaultValue = "true", arity = "1", description = "approve or deny pending CSRs"
      + " (true), or leave them to another approver and sign only those approved that the policy allows (false)")
  boolean approve;

  private SignerFlags() {}

  /** The environment variable of a flag: {@code --some-flag} is {@code KUBE_MTLS_SOME_FLAG}. */
  static String environmentVariable(String flag) {
    return "KUBE_MTLS_" + flag.substring(2).toUpperCase(Locale.ROOT).replace('-', '_');
  }

  /** The flags with their descriptions and built-in defaults, in declaration order (for the help text). */
  static List<OptionSpec> options() {
    return commandLine(new SignerFlags(), Map.of(), new HashSet<>(), name -> true).getCommandSpec().options();
  }

  /** Reads {@code args} over {@code environment}; see {@link SignerConfig#parse}. */
  static SignerConfig parse(List<String> args, Map<String, String> environment) {
    SignerFlags flags = new SignerFlags();
    read(flags, args, environment, name -> true);
    return flags.toConfig(environment);
  }

  /**
   * The flags of {@code SignerMain rotate-ca}: the CA Secret (with the signer's variables for it),
   * the new CA's lifetime and the kubeconfig.
   */
  @Command(name = "rotate-ca")
  static final class RotateCa {
    @Option(names = "--ca-secret-namespace", defaultValue = "kube-mtls") String namespace;
    @Option(names = "--ca-secret-name", defaultValue = "kube-mtls-ca") String name;
    @Option(names = "--ca-lifetime", defaultValue = "8760h") Duration lifetime;
    @Option(names = "--kubeconfig") java.nio.file.Path kubeconfig;

    /** @throws IllegalArgumentException naming the flag, for unknown flags and invalid values */
    static RotateCa parse(List<String> args, Map<String, String> environment) {
      RotateCa flags = new RotateCa();
      read(flags, args, environment, name -> name.startsWith("--ca-secret-"));
      return flags;
    }
  }

  private static void read(Object flags, List<String> args, Map<String, String> environment,
      java.util.function.Predicate<String> fromVariables) {
    Set<String> fromEnvironment = new HashSet<>();
    CommandLine cl = commandLine(flags, environment, fromEnvironment, fromVariables);
    try {
      cl.parseArgs(args.toArray(String[]::new));
    } catch (UnmatchedArgumentException e) {
      String arg = e.getUnmatched().isEmpty() ? "" : e.getUnmatched().get(0);
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + arg + "': flags have the form --name=value", e);
      }
      String name = arg.indexOf('=') > 0 ? arg.substring(0, arg.indexOf('=')) : arg;
      // picocli's suggestions are near names in no useful order: the one sharing the longest start wins.
      String likely = e.getSuggestions().stream().max(java.util.Comparator.comparingInt(s -> sharedStart(s, name)))
          .orElse(null);
      throw new IllegalArgumentException("unknown flag " + name
          + (likely == null ? "" : "; did you mean " + likely + "?"), e);
    } catch (ParameterException e) {
      String message = e.getMessage();
      if (e.getArgSpec() instanceof OptionSpec o && fromEnvironment.contains(o.longestName())
          && environment.get(environmentVariable(o.longestName())).trim().equals(e.getValue())) {
        message += " (set by " + environmentVariable(o.longestName()) + ")";
      }
      throw new IllegalArgumentException(message.contains("--") ? message
          : message + " (flags have the form --name=value)", e);
    }
  }

  private static int sharedStart(String a, String b) {
    int n = 0;
    while (n < a.length() && n < b.length() && a.charAt(n) == b.charAt(n)) {
      n++;
    }
    return n;
  }

  private static CommandLine commandLine(Object flags, Map<String, String> environment,
      Set<String> fromEnvironment, java.util.function.Predicate<String> fromVariables) {
    CommandLine cl = new CommandLine(flags)
        .setExpandAtFiles(false)
        .setInterpolateVariables(false)
        .setOverwrittenOptionsAllowed(true)
        .setDefaultValueProvider(arg -> {
          if (arg instanceof OptionSpec o && fromVariables.test(o.longestName())) {
            String value = environment.get(environmentVariable(o.longestName()));
            if (value != null && !value.isBlank()) {
              fromEnvironment.add(o.longestName());
              return value.trim();
            }
          }
          return null;
        });
    cl.registerConverter(Duration.class, value -> parseDuration(value));
    cl.registerConverter(Integer.TYPE, value -> {
      try {
        return Integer.parseInt(value.trim());
      } catch (NumberFormatException e) {
        throw new TypeConversionException("must be a number, was '" + value + "'");
      }
    });
    cl.registerConverter(SignerConfig.PolicyMode.class,
        oneOf(Map.of("strict", SignerConfig.PolicyMode.STRICT, "loose", SignerConfig.PolicyMode.LOOSE),
            "strict or loose"));
    cl.registerConverter(SignerConfig.LookupMode.class, oneOf(Map.of("cache", SignerConfig.LookupMode.CACHE,
        "request", SignerConfig.LookupMode.REQUEST), "cache or request"));
    cl.registerConverter(SignerConfig.Publication.class, oneOf(Map.of("auto", SignerConfig.Publication.AUTO,
        "true", SignerConfig.Publication.ON, "false", SignerConfig.Publication.OFF), "auto, true or false"));
    cl.registerConverter(Boolean.TYPE, oneOf(Map.of("true", true, "false", false), "true or false"));
    return cl;
  }

  private static <T> ITypeConverter<T> oneOf(Map<String, T> choices, String expected) {
    return value -> {
      T choice = choices.get(value.trim().toLowerCase(Locale.ROOT));
      if (choice == null) {
        throw new TypeConversionException("must be " + expected + ", was '" + value + "'");
      }
      return choice;
    };
  }

  private SignerConfig toConfig(Map<String, String> environment) {
    String name = required("--signer-name", signerName);
    String namespace = required("--ca-secret-namespace", caSecretNamespace);
    String id = identity != null ? identity : firstNonBlank(environment.get("POD_NAME"), environment.get("HOSTNAME"));
    if (id == null) {
      throw new IllegalArgumentException("--identity (or KUBE_MTLS_IDENTITY, POD_NAME or HOSTNAME) is required");
    }
    try {
      new ValidityPolicy(minTtl, maxTtl, backdate);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--min-ttl/--max-ttl: " + e.getMessage(), e);
    }
    return new SignerConfig(name, namespace, caSecretName, bundleConfigMap, bundleKey, namespaceLabel, minTtl,
        maxTtl, backdate, policy, trustDomain, clusterDomain, leaseNamespace == null ? namespace : leaseNamespace,
        leaseName, id, leaseDuration, renewDeadline, retryPeriod, workers, caPropagationDelay, caRetentionMargin,
        clusterTrustBundle, maxNames, lookups, podCertificates, bareServiceNames, approve);
  }

  private static String required(String flag, String value) {
    if (value == null || value.isBlank()) {
      String description = options().stream().filter(o -> o.longestName().equals(flag))
          .map(o -> String.join(" ", o.description())).findFirst().orElse("");
      throw new IllegalArgumentException(flag + " (or " + environmentVariable(flag) + ") is required: " + description);
    }
    return value;
  }

  private static String firstNonBlank(String a, String b) {
    if (a != null && !a.isBlank()) {
      return a;
    }
    return b != null && !b.isBlank() ? b : null;
  }

  /**
   * Parses {@code 90s}, {@code 10m}, {@code 24h}, {@code 500ms}, {@code 7d} or ISO-8601
   * ({@code PT1H}).
   *
   * @throws TypeConversionException saying what was wrong and what a duration looks like
   */
  static Duration parseDuration(String text) {
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
        throw new TypeConversionException("'" + text + "' is too long a duration");
      }
    }
    try {
      return Duration.parse(text.trim());
    } catch (java.time.format.DateTimeParseException e) {
      throw new TypeConversionException("'" + text + "' is not a duration (use e.g. 90s, 10m, 24h)");
    }
  }
}
