package dev.kubemtls.testkit.internal;

import java.nio.file.Path;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * Which backend the tests of this JVM use, from {@code -Dkube-mtls.control-plane} (or the
 * environment variable {@code KUBE_MTLS_CONTROL_PLANE}): {@code embedded} (the default),
 * {@code k3s} (with {@code kube-mtls.k3s.image}), or {@code kubeconfig} (with
 * {@code kube-mtls.kubeconfig} naming the file). The kubeconfig backend never falls back to
 * {@code KUBECONFIG}: tests create and change cluster objects, so the cluster must be named on purpose.
 *
 * @param kind the backend
 * @param kubeconfig the file for {@link Kind#KUBECONFIG}, else null
 * @param k3sImage the image for {@link Kind#K3S}, else null
 */
public record BackendSelection(Kind kind, Path kubeconfig, String k3sImage) {

  /** The backends. */
  public enum Kind { EMBEDDED, K3S, KUBECONFIG }

  /** The property (and, upper-cased with underscores, the environment variable) that chooses. */
  public static final String PROPERTY = "kube-mtls.control-plane";

  /**
   * Reads the choice through {@code lookup}, which maps a property name to its value (or null);
   * the caller passes system properties falling back to the environment.
   *
   * @throws IllegalArgumentException naming the setting, what was wrong and the valid choices
   */
  public static BackendSelection parse(UnaryOperator<String> lookup, String kubernetesVersion) {
    String value = trimToNull(lookup.apply(PROPERTY));
    if (value == null) {
      return new BackendSelection(Kind.EMBEDDED, null, null);
    }
    switch (value.toLowerCase(Locale.ROOT)) {
      case "embedded":
        return new BackendSelection(Kind.EMBEDDED, null, null);
      case "k3s": {
        String image = trimToNull(lookup.apply("kube-mtls.k3s.image"));
        return new BackendSelection(Kind.K3S, null, image != null ? image : defaultK3sImage(kubernetesVersion));
      }
      case "kubeconfig": {
        String file = trimToNull(lookup.apply("kube-mtls.kubeconfig"));
        if (file == null) {
          throw new IllegalArgumentException(PROPERTY + "=kubeconfig needs the kubeconfig of a cluster-admin user in"
              + " -Dkube-mtls.kubeconfig (or KUBE_MTLS_KUBECONFIG); KUBECONFIG is not read, so that tests never"
              + " run against a cluster by accident.");
        }
        return new BackendSelection(Kind.KUBECONFIG, Path.of(file), null);
      }
      default:
        throw new IllegalArgumentException(PROPERTY + "='" + value + "' is not a backend: use embedded (the"
            + " default), k3s (needs a Docker engine) or kubeconfig (with -Dkube-mtls.kubeconfig=<file>).");
    }
  }

  /**
   * {@link #parse} over system properties, falling back to environment variables
   * ({@code KUBE_MTLS_...}) where a property is unset or blank (Maven passes blank ones).
   */
  public static BackendSelection fromSystem(String kubernetesVersion) {
    return parse(BackendSelection::systemSetting, kubernetesVersion);
  }

  /** The system property {@code name} if set and not blank, else its environment variable. */
  public static String systemSetting(String name) {
    String v = trimToNull(System.getProperty(name));
    return v != null ? v : System.getenv(environmentName(name));
  }

  /** {@code kube-mtls.k3s.image} becomes {@code KUBE_MTLS_K3S_IMAGE}. */
  public static String environmentName(String property) {
    return property.toUpperCase(Locale.ROOT).replace('-', '_').replace('.', '_');
  }

  private static String trimToNull(String s) {
    return s == null || s.isBlank() ? null : s.trim();
  }

  /** The image for a Kubernetes version: {@code rancher/k3s:v<version>-k3s1}. */
  public static String defaultK3sImage(String kubernetesVersion) {
    return "rancher/k3s:v" + kubernetesVersion + "-k3s1";
  }

  /** The version the build wrote into {@code kube-mtls/testkit.properties} (the parent pom's). */
  public static String bundledKubernetesVersion() {
    java.util.Properties props = new java.util.Properties();
    try (java.io.InputStream in = BackendSelection.class.getResourceAsStream("/kube-mtls/testkit.properties")) {
      if (in == null) {
        throw new IllegalStateException("kube-mtls/testkit.properties is missing from the test kit's jar");
      }
      props.load(in);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read kube-mtls/testkit.properties", e);
    }
    String version = props.getProperty("kubernetes.version", "");
    if (!version.matches("\\d+\\.\\d+\\.\\d+")) {
      throw new IllegalStateException("kube-mtls/testkit.properties names no Kubernetes version ('" + version
          + "'): was the test kit built without resource filtering?");
    }
    return version;
  }

  /**
   * The k3s backend runs on Testcontainers, an optional dependency of the test kit: fails with the
   * dependency to add when it is not on the test classpath.
   */
  public static void requireTestcontainers() {
    try {
      Class.forName("org.testcontainers.k3s.K3sContainer", false, BackendSelection.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalStateException("the k3s backend (-Dkube-mtls.control-plane=k3s) needs Testcontainers on the"
          + " test classpath: add the test dependency org.testcontainers:testcontainers-k3s (the test kit declares"
          + " it optional), or use the embedded control plane", e);
    }
  }
}
