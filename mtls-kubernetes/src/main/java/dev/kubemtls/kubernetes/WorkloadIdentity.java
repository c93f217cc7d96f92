package dev.kubemtls.kubernetes;

import dev.kubemtls.core.names.Usages;
import dev.kubemtls.core.names.ServiceNames;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.peer.SpiffeId;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.kubernetes.csr.CertificateIssuer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.bouncycastle.util.IPAddress;

/**
 * Who a workload is, and therefore what its certificate must say: the Kubernetes namespace and
 * ServiceAccount it runs as, the Services it serves, its pod IP, and whether it acts as a TLS
 * server, client or both.
 *
 * <p>Everything a {@link CertificateIssuer} asks for is derived from this value: the SPIFFE ID
 * {@code spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>} (URI SAN), the Service DNS
 * names {@code svc.ns}, {@code svc.ns.svc} and {@code svc.ns.svc.<clusterDomain>} (DNS SANs) plus
 * any extra DNS names, the pod IP (IP SAN), the subject common name
 * {@code system:serviceaccount:<namespace>:<serviceAccount>} and the key usages of the
 * {@link Role}. Inside a pod, {@link #fromEnvironment(String...)} reads all of it from the mounted
 * ServiceAccount and the downward API; elsewhere use {@link #builder(String, String)}.
 *
 * <p>Instances are immutable and validated on construction: every invalid field is reported with an
 * {@link IllegalArgumentException} naming it. Note that the approver decides what the workload may
 * actually own; this value only states what it asks for.
 *
 * @param namespace      the namespace the workload runs in (a DNS label)
 * @param serviceAccount the ServiceAccount it runs as (a DNS subdomain)
 * @param podName        the pod name, when known (informational; the approver may check it)
 * @param podIp          the pod IP, when known; requested as an IP SAN
 * @param clusterDomain  the cluster DNS domain, {@code cluster.local} by default
 * @param trustDomain    the SPIFFE trust domain, the cluster domain by default
 * @param services       names of the Services in {@code namespace} that this workload serves
 * @param extraDnsNames  further DNS names to request (a leading {@code *.} wildcard is allowed)
 * @param role           server, client or both
 */
public record WorkloadIdentity(
    String namespace,
    String serviceAccount,
    Optional<String> podName,
    Optional<String> podIp,
    String clusterDomain,
    String trustDomain,
    List<String> services,
    List<String> extraDnsNames,
    Role role) {

  /** Where Kubernetes mounts the ServiceAccount token, CA and namespace in every pod. */
  public static final Path SERVICE_ACCOUNT_DIR = Path.of("/var/run/secrets/kubernetes.io/serviceaccount");

  /** The default cluster DNS domain. */
  public static final String DEFAULT_CLUSTER_DOMAIN = "cluster.local";

  private static final Pattern WILDCARD_OR_NAME = Pattern.compile("(\\*\\.)?(.+)");
  private static final int MAX_FILE_BYTES = 64 * 1024;

  public WorkloadIdentity {
    KubernetesNames.requireDnsLabel("namespace", namespace);
    KubernetesNames.requireDnsSubdomain("serviceAccount", serviceAccount);
    Objects.requireNonNull(podName, "podName");
    Objects.requireNonNull(podIp, "podIp");
    podName.ifPresent(p -> KubernetesNames.requireDnsSubdomain("podName", p));
    podIp.ifPresent(ip -> requireIpAddress("podIp", ip));
    KubernetesNames.requireDnsSubdomain("clusterDomain", clusterDomain);
    Objects.requireNonNull(trustDomain, "trustDomain");
    new SpiffeId(trustDomain, ""); // validates the trust domain
    services = List.copyOf(services);
    for (int i = 0; i < services.size(); i++) {
      KubernetesNames.requireDnsLabel("services[" + i + "]", services.get(i));
    }
    extraDnsNames = List.copyOf(extraDnsNames);
    for (int i = 0; i < extraDnsNames.size(); i++) {
      requireDnsName("extraDnsNames[" + i + "]", extraDnsNames.get(i));
    }
    Objects.requireNonNull(role, "role");
  }

  /** Starts an identity for {@code serviceAccount} in {@code namespace}; validated by {@code build()}. */
  public static Builder builder(String namespace, String serviceAccount) {
    return new Builder(namespace, serviceAccount);
  }

  /**
   * The identity of the pod this process runs in, serving {@code services}, in role {@link Role#BOTH}.
   * Reads the mounted ServiceAccount and the downward-API environment variables; see
   * {@link #builderFromEnvironment(Function, Path)}.
   *
   * @throws IllegalStateException if the namespace or ServiceAccount cannot be determined (not
   *     running in a pod, or the token is not mounted)
   */
  public static WorkloadIdentity fromEnvironment(String... services) {
    return builderFromEnvironment(System::getenv, SERVICE_ACCOUNT_DIR).services(services).build();
  }

  /**
   * A builder filled from a pod's environment, for callers that want to adjust it (role, extra
   * names) and for tests.
   *
   * <ul>
   *   <li>namespace: the file {@code namespace} in {@code serviceAccountDir}, else the environment
   *       variable {@code POD_NAMESPACE};
   *   <li>ServiceAccount: the {@code sub} claim ({@code system:serviceaccount:<ns>:<sa>}) of the
   *       token in the file {@code token} (read, not verified: the API server verifies it), else
   *       {@code SERVICE_ACCOUNT};
   *   <li>pod name and IP: {@code POD_NAME} and {@code POD_IP}, set with the downward API
   *       ({@code fieldRef: metadata.name} and {@code status.podIP});
   *   <li>cluster domain: {@code CLUSTER_DOMAIN} if set.
   * </ul>
   *
   * @param env               looks up an environment variable, returning null when unset
   * @param serviceAccountDir the directory the ServiceAccount is mounted at
   * @throws IllegalStateException if the namespace or ServiceAccount cannot be determined, or the
   *     token's subject is not a ServiceAccount
   */
  public static Builder builderFromEnvironment(Function<String, String> env, Path serviceAccountDir) {
    Objects.requireNonNull(env, "env");
    Objects.requireNonNull(serviceAccountDir, "serviceAccountDir");
    Optional<String> namespace = readSmallFile(serviceAccountDir.resolve("namespace")).map(String::strip)
        .filter(s -> !s.isEmpty())
        .or(() -> nonBlank(env.apply("POD_NAMESPACE")));
    if (namespace.isEmpty()) {
      throw new IllegalStateException("cannot tell the namespace: " + serviceAccountDir.resolve("namespace")
          + " does not exist and POD_NAMESPACE is not set (set it with the downward API, fieldRef"
          + " metadata.namespace, or use WorkloadIdentity.builder)");
    }
    Optional<String> serviceAccount = readSmallFile(serviceAccountDir.resolve("token"))
        .map(token -> serviceAccountOfToken(token, namespace.get()))
        .or(() -> nonBlank(env.apply("SERVICE_ACCOUNT")));
    if (serviceAccount.isEmpty()) {
      throw new IllegalStateException("cannot tell the ServiceAccount: " + serviceAccountDir.resolve("token")
          + " does not exist and SERVICE_ACCOUNT is not set (is automountServiceAccountToken off?)");
    }
    Builder b = builder(namespace.get(), serviceAccount.get());
    nonBlank(env.apply("POD_NAME")).ifPresent(b::podName);
    nonBlank(env.apply("POD_IP")).ifPresent(b::podIp);
    nonBlank(env.apply("CLUSTER_DOMAIN")).ifPresent(b::clusterDomain);
    return b;
  }

  /** The SPIFFE ID this workload asks for: {@code spiffe://<td>/ns/<ns>/sa/<sa>}. */
  public SpiffeId spiffeId() {
    return SpiffeId.forServiceAccount(trustDomain, namespace, serviceAccount);
  }

  /** The Kubernetes user name of the ServiceAccount, used as the subject common name. */
  public String username() {
    return "system:serviceaccount:" + namespace + ":" + serviceAccount;
  }

  /**
   * The DNS SANs to request: the three namespace-qualified forms of each Service name, then the extra
   * names, without duplicates. The bare Service name ({@code svc}) is not requested: it names a
   * different Service in every namespace, so a peer that dials {@code svc} and checks only the host
   * name would accept a same-named Service of another namespace; the kube-mtls signer issues it only
   * with {@code --bare-service-names}. Where that is on and wanted, request it with
   * {@code extraDnsNames(svc)}.
   */
  public List<String> dnsNames() {
    Set<String> names = new LinkedHashSet<>();
    for (String svc : services) {
      names.addAll(ServiceNames.of(svc, namespace, clusterDomain));
    }
    names.addAll(extraDnsNames);
    return List.copyOf(names);
  }

  /** The IP SANs to request: the pod IP, if known. */
  public List<InetAddress> ipAddresses() {
    return podIp.map(ip -> List.of(parseIp(ip))).orElse(List.of());
  }

  /**
   * The key usages to request, in the spelling of certificates.k8s.io/v1: {@code digital
   * signature}, {@code key encipherment} for RSA keys only, then {@code server auth} and/or
   * {@code client auth} by role.
   */
  public List<String> usages(KeyAlgorithm keyAlgorithm) {
    Objects.requireNonNull(keyAlgorithm, "keyAlgorithm");
    List<String> usages = new ArrayList<>();
    usages.add(Usages.DIGITAL_SIGNATURE);
    if (keyAlgorithm.isRsa()) {
      usages.add(Usages.KEY_ENCIPHERMENT);
    }
    if (role.server()) {
      usages.add(Usages.SERVER_AUTH);
    }
    if (role.client()) {
      usages.add(Usages.CLIENT_AUTH);
    }
    return List.copyOf(usages);
  }

  /** A builder holding this identity's values. */
  public Builder toBuilder() {
    Builder b = builder(namespace, serviceAccount).clusterDomain(clusterDomain).trustDomain(trustDomain)
        .services(services).extraDnsNames(extraDnsNames).role(role);
    podName.ifPresent(b::podName);
    podIp.ifPresent(b::podIp);
    return b;
  }

  /**
   * Checks a DNS name as it may appear in a certificate: lower-case labels of letters, digits and
   * '-', at most 253 characters, optionally starting with a {@code *.} wildcard label.
   *
   * @throws IllegalArgumentException naming {@code field}
   */
  static String requireDnsName(String field, String value) {
    Objects.requireNonNull(value, field);
    var m = WILDCARD_OR_NAME.matcher(value);
    if (!m.matches()) {
      throw new IllegalArgumentException(field + " is empty: expected a DNS name");
    }
    try {
      KubernetesNames.requireDnsSubdomain(field, m.group(2));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(field + " '" + value + "' is not a valid DNS name: use lower-case"
          + " letters, digits, '-' and '.', at most 253 characters, optionally starting with '*.'");
    }
    for (String label : m.group(2).split("\\.")) {
      if (label.length() > 63) {
        throw new IllegalArgumentException(field + " '" + value + "' has a label longer than 63 characters");
      }
    }
    return value;
  }

  /**
   * Checks an IPv4 or IPv6 literal without any name lookup.
   *
   * @throws IllegalArgumentException naming {@code field}
   */
  static String requireIpAddress(String field, String value) {
    Objects.requireNonNull(value, field);
    if (!IPAddress.isValid(value)) {
      throw new IllegalArgumentException(field + " '" + value + "' is not an IPv4 or IPv6 address");
    }
    return value;
  }

  private static InetAddress parseIp(String literal) {
    try {
      return InetAddress.getByName(requireIpAddress("ip", literal)); // a literal: no lookup happens
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("'" + literal + "' is not an IP address", e);
    }
  }

  private static Optional<String> nonBlank(String s) {
    return s == null || s.isBlank() ? Optional.empty() : Optional.of(s.strip());
  }

  private static Optional<String> readSmallFile(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      byte[] bytes = in.readNBytes(MAX_FILE_BYTES + 1);
      if (bytes.length > MAX_FILE_BYTES) {
        throw new IllegalStateException(file + " is larger than " + MAX_FILE_BYTES + " bytes");
      }
      return Optional.of(new String(bytes, StandardCharsets.UTF_8));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static String serviceAccountOfToken(String token, String namespace) {
    String[] parts = token.strip().split("\\.", -1);
    if (parts.length != 3) {
      throw new IllegalStateException("the mounted ServiceAccount token is not a JWT (expected three"
          + " dot-separated parts, found " + parts.length + ")");
    }
    String sub;
    try {
      JsonNode claims = new ObjectMapper().readTree(Base64.getUrlDecoder().decode(parts[1]));
      JsonNode subNode = claims == null ? null : claims.get("sub");
      if (subNode == null || !subNode.isTextual()) {
        throw new IllegalStateException("the mounted ServiceAccount token has no 'sub' claim");
      }
      sub = subNode.asText();
    } catch (IOException | IllegalArgumentException e) {
      // The token is a credential: never echo any of it.
      throw new IllegalStateException("the payload of the mounted ServiceAccount token is not base64url JSON ("
          + e.getClass().getSimpleName() + ")");
    }
    String prefix = "system:serviceaccount:";
    String[] s = sub.startsWith(prefix) ? sub.substring(prefix.length()).split(":", -1) : new String[0];
    if (s.length != 2 || s[0].isEmpty() || s[1].isEmpty()) {
      throw new IllegalStateException("the mounted token's subject '" + sub
          + "' is not a ServiceAccount (expected system:serviceaccount:<namespace>:<name>)");
    }
    if (!s[0].equals(namespace)) {
      throw new IllegalStateException("the mounted token is for namespace '" + s[0]
          + "' but the pod runs in '" + namespace + "'");
    }
    return s[1];
  }

  /**
   * Builds a {@link WorkloadIdentity}. Defaults: cluster domain {@code cluster.local}, trust domain
   * the cluster domain, no Services, no extra names, role {@link Role#BOTH}.
   */
  public static final class Builder {
    private final String namespace;
    private final String serviceAccount;
    private String podName;
    private String podIp;
    private String clusterDomain = DEFAULT_CLUSTER_DOMAIN;
    private String trustDomain;
    private final List<String> services = new ArrayList<>();
    private final List<String> extraDnsNames = new ArrayList<>();
    private Role role = Role.BOTH;

    private Builder(String namespace, String serviceAccount) {
      this.namespace = Objects.requireNonNull(namespace, "namespace");
      this.serviceAccount = Objects.requireNonNull(serviceAccount, "serviceAccount");
    }

    public Builder podName(String podName) {
      this.podName = Objects.requireNonNull(podName, "podName");
      return this;
    }

    public Builder podIp(String podIp) {
      this.podIp = Objects.requireNonNull(podIp, "podIp");
      return this;
    }

    public Builder clusterDomain(String clusterDomain) {
      this.clusterDomain = Objects.requireNonNull(clusterDomain, "clusterDomain");
      return this;
    }

    /** The SPIFFE trust domain; defaults to the cluster domain. */
    public Builder trustDomain(String trustDomain) {
      this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
      return this;
    }

    /** Adds Services (names in the workload's namespace) this workload serves. */
    public Builder services(String... services) {
      return services(List.of(services));
    }

    /** Adds Services (names in the workload's namespace) this workload serves. */
    public Builder services(List<String> services) {
      for (String s : services) {
        this.services.add(Objects.requireNonNull(s, "service"));
      }
      return this;
    }

    /** Adds DNS names beyond the Service names. */
    public Builder extraDnsNames(String... names) {
      return extraDnsNames(List.of(names));
    }

    /** Adds DNS names beyond the Service names. */
    public Builder extraDnsNames(List<String> names) {
      for (String n : names) {
        this.extraDnsNames.add(Objects.requireNonNull(n, "extraDnsName"));
      }
      return this;
    }

    public Builder role(Role role) {
      this.role = Objects.requireNonNull(role, "role");
      return this;
    }

    /** @throws IllegalArgumentException naming the first invalid field */
    public WorkloadIdentity build() {
      return new WorkloadIdentity(namespace, serviceAccount, Optional.ofNullable(podName),
          Optional.ofNullable(podIp), clusterDomain, trustDomain == null ? clusterDomain : trustDomain,
          services, extraDnsNames, role);
    }
  }

  @Override
  public String toString() {
    return "WorkloadIdentity[" + spiffeId() + ", role=" + role + ", dns=" + dnsNames()
        + podIp.map(ip -> ", ip=" + ip).orElse("") + podName.map(p -> ", pod=" + p).orElse("") + "]";
  }
}
