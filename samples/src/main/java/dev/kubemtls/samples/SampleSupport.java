package dev.kubemtls.samples;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Locale;

/**
 * What every sample does first: obtain its certificate from Kubernetes and keep it fresh. Read it
 * as the quick start: a {@link KubeMtls} workload built from the pod's environment, with a listener
 * that reports each change.
 */
public final class SampleSupport {

  private SampleSupport() {}

  /**
   * Starts the certificate manager of this pod and waits until it holds a certificate and the
   * trust bundle. Configuration comes from the environment the manifests set: the downward-API
   * variables (POD_NAME, POD_NAMESPACE, POD_IP, SERVICE_ACCOUNT), KMTLS_SIGNER_NAME,
   * KMTLS_BUNDLE_CONFIGMAP, KMTLS_SERVICES (comma-separated Service names), KMTLS_ROLE and
   * KMTLS_TRUST ({@code auto}, the default: ClusterTrustBundles where the cluster serves them, else
   * the signed bundle ConfigMap; or {@code config-map}, or {@code cluster-trust-bundle}).
   */
  public static KubeMtls startWorkload(KubernetesClient client) throws InterruptedException {
    String[] services = Arrays.stream(env("KMTLS_SERVICES", "").split(","))
        .map(String::trim).filter(s -> !s.isEmpty()).toArray(String[]::new);
    Role role = Role.valueOf(env("KMTLS_ROLE", "both").toUpperCase(Locale.ROOT));
    KubeMtls.Builder builder = KubeMtls.forWorkload(client)
        .services(services)
        .role(role)
        .signerName(env("KMTLS_SIGNER_NAME", "kube-mtls.dev/workload"))
        .trustBundleConfigMap(env("KMTLS_BUNDLE_CONFIGMAP", Defaults.TRUST_BUNDLE_CONFIGMAP))
        .listener(new EventListener());
    switch (env("KMTLS_TRUST", "auto").toLowerCase(Locale.ROOT)) {
      case "auto" -> { }
      case "config-map" -> builder.trustConfigMap();
      case "cluster-trust-bundle" -> builder.trustClusterTrustBundles();
      default -> throw new IllegalArgumentException("KMTLS_TRUST must be auto, config-map or cluster-trust-bundle, was '"
          + env("KMTLS_TRUST", "auto") + "'");
    }
    KubeMtls workload = builder.start();
    workload.awaitReady(Duration.ofSeconds(120));
    return workload;
  }

  /** An environment variable, or {@code fallback}. */
  public static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v;
  }

  /** {@code host:port} from an environment variable. */
  public static String[] address(String name) {
    String v = System.getenv(name);
    if (v == null || v.lastIndexOf(':') < 1) {
      throw new IllegalArgumentException(name + " must be set to host:port, was '" + v + "'");
    }
    int colon = v.lastIndexOf(':');
    return new String[] {v.substring(0, colon), v.substring(colon + 1)};
  }

  static String describe(TlsIdentity id) {
    return "serial=" + id.leaf().getSerialNumber().toString(16) + " issuer=\""
        + id.leaf().getIssuerX500Principal().getName() + "\" notAfter=" + id.notAfter();
  }

  /** Turns the manager's events into demo event lines. */
  static final class EventListener implements ManagerListener {
    @Override
    public void ready(MtlsMaterial material) {
      DemoEvents.emit("cert_issued", describe(material.identity()), "trust=" + material.trust().sourceVersion());
    }

    @Override
    public void rotated(MtlsMaterial previous, MtlsMaterial current) {
      DemoEvents.emit("cert_rotated", describe(current.identity()));
    }

    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      DemoEvents.emit("renewal_failed", "attempt=" + attempt, "next=" + nextAttempt, "error=\"" + error.getMessage() + "\"");
    }

    @Override
    public void trustChanged(TrustBundle previous, TrustBundle current) {
      DemoEvents.emit("trust_updated", "cas=" + current.certificates().size(), "source=" + current.sourceVersion());
    }
  }
}
