package dev.kubemtls.spring;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.peer.SpiffeId;
import dev.kubemtls.core.pki.KeyAlgorithm;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;

/**
 * The {@code kube-mtls.*} settings of the Spring Boot starter.
 *
 * <p>Inside a pod three are enough: {@code kube-mtls.signer-name}, {@code kube-mtls.services} and
 * {@code server.ssl.bundle=kube-mtls}; the namespace, ServiceAccount, pod name and IP come from the
 * pod (the mounted ServiceAccount and the downward-API variables {@code POD_NAMESPACE},
 * {@code POD_NAME}, {@code POD_IP}, read through Spring's {@code Environment}, so they may also be
 * given as properties). The values are checked when the application starts; a wrong one stops it
 * with a message that names the property and what it expects.
 */
@ConfigurationProperties("kube-mtls")
public class KubeMtlsProperties implements Validator {

  /** Where the trust bundle comes from. */
  public enum TrustSource {
    /**
     * The ClusterTrustBundles of the signer name where the cluster serves them (stable
     * {@code certificates.k8s.io/v1} from Kubernetes 1.37, or the beta where switched on), else the
     * signed bundle ConfigMap; found through discovery at start.
     */
    AUTO,
    /**
     * The signer's CA bundle ConfigMap in the workload's namespace ({@code trust-config-map}),
     * accepted only with the signer's signature by a CA this workload already trusts.
     */
    CONFIG_MAP,
    /** The ClusterTrustBundles linked to the signer name ({@code certificates.k8s.io/v1}, or {@code v1beta1}). */
    CLUSTER_TRUST_BUNDLE
  }

  /** Whether the starter does anything at all. */
  private boolean enabled = true;

  /** The signerName the CSRs name, e.g. {@code kube-mtls.dev/workload}. Required for the in-pod identity. */
  private String signerName;

  /** The Service names this workload serves; each adds its cluster DNS names to the certificate. */
  private List<String> services = new ArrayList<>();

  /** Where the trust bundle comes from. */
  private TrustSource trustSource = TrustSource.AUTO;

  /** The CA bundle ConfigMap's name (with {@code trust-source=config-map}, or auto where no ClusterTrustBundles are served). */
  private String trustConfigMap = Defaults.TRUST_BUNDLE_CONFIGMAP;

  /** The key algorithm: {@code ec-p256} (default), {@code ec-p384}, {@code rsa-2048}, {@code rsa-3072}. */
  private String keyAlgorithm = "ec-p256";

  /** The certificate lifetime to ask for (at least 10 minutes; the signer may shorten it). */
  private Duration lifetime = Duration.ofHours(24);

  /** How long the application waits at startup for its first certificate. */
  private Duration startupTimeout = Duration.ofMinutes(2);

  /** The name of the SSL bundle the starter registers; point {@code server.ssl.bundle} at it. */
  private String bundle = "kube-mtls";

  /**
   * The longest a server connection on the bundle stays open (30 minutes, as gRPC's servers here);
   * connections also end at the client certificate's notAfter and when its CA leaves the bundle.
   * {@code 0} turns the bound off. Reactor Netty (with mtls-netty on the class path) closes the
   * connection at the bound; Tomcat answers the next request on it with {@code Connection: close};
   * see the starter's README.
   */
  private Duration maxConnectionAge = Duration.ofMinutes(30);

  /**
   * A kubeconfig to reach the API server with. Unset: in a Pod (a ServiceAccount token under
   * {@code service-account-dir} and {@code KUBERNETES_SERVICE_HOST} set) the in-cluster
   * configuration; a kubeconfig from the environment ({@code KUBECONFIG}, {@code ~/.kube/config}) is
   * used only with {@code kubeconfig-from-environment=true}, and outside a Pod without either the
   * application stops and says what to set.
   */
  private String kubeconfigFile;

  /**
   * Opt-in to the kubeconfig of the environment ({@code KUBECONFIG} or {@code ~/.kube/config},
   * fabric8's auto-configuration) when {@code kubeconfig-file} is unset. Off by default, so that a
   * developer's machine never lands on whatever cluster its current context names by accident.
   */
  private boolean kubeconfigFromEnvironment;

  /** The directory the ServiceAccount is mounted at (namespace and token files). */
  private String serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

  /** Who may call this application's endpoints. */
  private final Peer peer = new Peer();

  /** The caller allow-list, enforced on every request by the starter's filter. */
  public static class Peer {
    /** Whether the servlet or WebFlux filter checks callers (on servers that use the bundle). */
    private boolean enforce = true;
    /** Namespaces whose workloads may call. */
    private List<String> allowedNamespaces = new ArrayList<>();
    /** {@code namespace/serviceAccount} pairs that may call. */
    private List<String> allowedServiceAccounts = new ArrayList<>();
    /** SPIFFE IDs that may call. */
    private List<String> allowedSpiffeIds = new ArrayList<>();

    public boolean isEnforce() {
      return enforce;
    }

    public void setEnforce(boolean enforce) {
      this.enforce = enforce;
    }

    public List<String> getAllowedNamespaces() {
      return allowedNamespaces;
    }

    public void setAllowedNamespaces(List<String> allowedNamespaces) {
      this.allowedNamespaces = allowedNamespaces;
    }

    public List<String> getAllowedServiceAccounts() {
      return allowedServiceAccounts;
    }

    public void setAllowedServiceAccounts(List<String> allowedServiceAccounts) {
      this.allowedServiceAccounts = allowedServiceAccounts;
    }

    public List<String> getAllowedSpiffeIds() {
      return allowedSpiffeIds;
    }

    public void setAllowedSpiffeIds(List<String> allowedSpiffeIds) {
      this.allowedSpiffeIds = allowedSpiffeIds;
    }
  }

  /**
   * The allow-list as a {@link PeerPolicy}: with no entries, every verified peer whose certificate
   * carries a SPIFFE ID ({@link PeerPolicy#anySpiffeId()}).
   *
   * @throws IllegalArgumentException if an entry is malformed (the startup check reports it first)
   */
  public PeerPolicy peerPolicy() {
    PeerPolicy.Builder b = PeerPolicy.builder();
    peer.allowedNamespaces.forEach(b::allowNamespace);
    for (String pair : peer.allowedServiceAccounts) {
      String[] parts = pair.split("/", -1);
      if (parts.length != 2) {
        throw new IllegalArgumentException("'" + pair + "' is not namespace/serviceAccount");
      }
      b.allowServiceAccount(parts[0], parts[1]);
    }
    peer.allowedSpiffeIds.forEach(b::allowSpiffeId);
    return b.build();
  }

  /** The key algorithm as the library's enum. */
  public KeyAlgorithm keyAlgorithmValue() {
    return parseKeyAlgorithm(keyAlgorithm);
  }

  private static KeyAlgorithm parseKeyAlgorithm(String value) {
    String normal = value == null ? "" : value.trim().toUpperCase(Locale.ROOT).replace('-', '_');
    return switch (normal) {
      case "EC_P256", "EC", "P256", "P_256" -> KeyAlgorithm.EC_P256;
      case "EC_P384", "P384", "P_384" -> KeyAlgorithm.EC_P384;
      case "RSA_2048", "RSA" -> KeyAlgorithm.RSA_2048;
      case "RSA_3072" -> KeyAlgorithm.RSA_3072;
      default -> throw new IllegalArgumentException("unknown key algorithm '" + value
          + "': use ec-p256 (default), ec-p384, rsa-2048 or rsa-3072");
    };
  }

  @Override
  public boolean supports(Class<?> clazz) {
    return KubeMtlsProperties.class.isAssignableFrom(clazz);
  }

  /**
   * Checks the values that can be checked without the cluster. The signer name is checked only
   * when it is set: a user-supplied {@code MaterialSource} bean needs none.
   */
  @Override
  public void validate(Object target, Errors errors) {
    KubeMtlsProperties p = (KubeMtlsProperties) target;
    if (p.signerName != null) {
      try {
        SignerNames.require(p.signerName, false);
      } catch (IllegalArgumentException e) {
        errors.rejectValue("signerName", "invalid", e.getMessage());
      }
    }
    for (String service : p.services) {
      if (service == null || !service.matches("[a-z]([-a-z0-9]{0,61}[a-z0-9])?")) {
        errors.rejectValue("services", "invalid", "'" + service + "' is not a Service name (a DNS-1035"
            + " label: lower-case letters, digits and '-', starting with a letter, at most 63 characters)");
      }
    }
    try {
      parseKeyAlgorithm(p.keyAlgorithm);
    } catch (IllegalArgumentException e) {
      errors.rejectValue("keyAlgorithm", "invalid", e.getMessage());
    }
    if (p.lifetime == null || p.lifetime.compareTo(Duration.ofMinutes(10)) < 0) {
      errors.rejectValue("lifetime", "invalid", "must be at least 10m (Kubernetes' minimum"
          + " expirationSeconds is 600), was " + p.lifetime);
    }
    if (p.startupTimeout == null || p.startupTimeout.isNegative() || p.startupTimeout.isZero()) {
      errors.rejectValue("startupTimeout", "invalid", "must be positive, was " + p.startupTimeout);
    }
    if (p.kubeconfigFile != null && !p.kubeconfigFile.isBlank() && !java.nio.file.Files.isReadable(java.nio.file.Path.of(p.kubeconfigFile))) {
      errors.rejectValue("kubeconfigFile", "invalid", "cannot read " + p.kubeconfigFile + ": name a readable kubeconfig"
          + " file, or leave it unset to use the pod's ServiceAccount (in-cluster configuration)");
    }
    if (p.bundle == null || p.bundle.isBlank()) {
      errors.rejectValue("bundle", "invalid", "must name the SSL bundle, e.g. kube-mtls");
    }
    if (p.trustConfigMap == null || !p.trustConfigMap.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
      errors.rejectValue("trustConfigMap", "invalid", "'" + p.trustConfigMap + "' is not a ConfigMap name");
    }
    for (String ns : p.peer.allowedNamespaces) {
      if (ns == null || !ns.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")) {
        errors.rejectValue("peer.allowedNamespaces", "invalid", "'" + ns + "' is not a namespace name");
      }
    }
    for (String pair : p.peer.allowedServiceAccounts) {
      String[] parts = pair == null ? new String[0] : pair.split("/", -1);
      if (parts.length != 2 || parts[0].isBlank() || parts[1].isBlank()) {
        errors.rejectValue("peer.allowedServiceAccounts", "invalid", "'" + pair
            + "' is not namespace/serviceAccount, e.g. shop/frontend");
      }
    }
    for (String id : p.peer.allowedSpiffeIds) {
      if (id == null || !SpiffeId.isValid(id)) {
        errors.rejectValue("peer.allowedSpiffeIds", "invalid", "'" + id
            + "' is not a SPIFFE ID, e.g. spiffe://cluster.local/ns/shop/sa/frontend");
      }
    }
    if (!errors.hasFieldErrors("peer.allowedNamespaces") && !errors.hasFieldErrors("peer.allowedServiceAccounts")
        && !errors.hasFieldErrors("peer.allowedSpiffeIds")) {
      try {
        p.peerPolicy();
      } catch (IllegalArgumentException e) {
        errors.rejectValue("peer", "invalid", e.getMessage());
      }
    }
  }

  public boolean isEnabled() {
    return enabled;
  }

  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  public String getSignerName() {
    return signerName;
  }

  public void setSignerName(String signerName) {
    this.signerName = signerName;
  }

  public List<String> getServices() {
    return services;
  }

  public void setServices(List<String> services) {
    this.services = services;
  }

  public TrustSource getTrustSource() {
    return trustSource;
  }

  public void setTrustSource(TrustSource trustSource) {
    this.trustSource = trustSource;
  }

  public String getTrustConfigMap() {
    return trustConfigMap;
  }

  public void setTrustConfigMap(String trustConfigMap) {
    this.trustConfigMap = trustConfigMap;
  }

  public String getKeyAlgorithm() {
    return keyAlgorithm;
  }

  public void setKeyAlgorithm(String keyAlgorithm) {
    this.keyAlgorithm = keyAlgorithm;
  }

  public Duration getLifetime() {
    return lifetime;
  }

  public void setLifetime(Duration lifetime) {
    this.lifetime = lifetime;
  }

  public Duration getStartupTimeout() {
    return startupTimeout;
  }

  public void setStartupTimeout(Duration startupTimeout) {
    this.startupTimeout = startupTimeout;
  }

  public Duration getMaxConnectionAge() {
    return maxConnectionAge == null || maxConnectionAge.isZero() || maxConnectionAge.isNegative()
        ? null : maxConnectionAge;
  }

  public void setMaxConnectionAge(Duration maxConnectionAge) {
    this.maxConnectionAge = maxConnectionAge;
  }

  public String getBundle() {
    return bundle;
  }

  public void setBundle(String bundle) {
    this.bundle = bundle;
  }

  public String getKubeconfigFile() {
    return kubeconfigFile;
  }

  public void setKubeconfigFile(String kubeconfigFile) {
    this.kubeconfigFile = kubeconfigFile;
  }

  public boolean isKubeconfigFromEnvironment() {
    return kubeconfigFromEnvironment;
  }

  public void setKubeconfigFromEnvironment(boolean kubeconfigFromEnvironment) {
    this.kubeconfigFromEnvironment = kubeconfigFromEnvironment;
  }

  public String getServiceAccountDir() {
    return serviceAccountDir;
  }

  public void setServiceAccountDir(String serviceAccountDir) {
    this.serviceAccountDir = serviceAccountDir;
  }

  public Peer getPeer() {
    return peer;
  }
}
