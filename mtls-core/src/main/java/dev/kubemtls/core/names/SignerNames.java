package dev.kubemtls.core.names;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The API server's rule for {@code certificates.k8s.io} signer names, applied by the signer to its
 * own name and by workloads before they send a request, so that neither accepts a name that the
 * API server would refuse.
 *
 * <p>A signer name is {@code <domain>/<path>} with exactly one {@code '/'}. The domain is at most
 * 253 characters of at least two dot-separated DNS labels (lower-case letters, digits and
 * {@code '-'}, at most 63 each, starting and ending with a letter or digit). The path is one or more
 * dot-separated parts of the same alphabet (each at most 253 characters), and the whole name is at
 * most 571 characters. Names in the {@code kubernetes.io} domain (and its subdomains) are reserved
 * for Kubernetes' own signers.
 */
public final class SignerNames {

  /** The longest signer name the API server accepts: a 253-character domain, '/', and a 317-character path. */
  public static final int MAX_LENGTH = 571;

  private static final Pattern LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");

  private SignerNames() {}

  /** Whether {@code signerName} is in the reserved {@code kubernetes.io} domain. */
  public static boolean isKubernetesIo(String signerName) {
    Objects.requireNonNull(signerName, "signerName");
    int slash = signerName.indexOf('/');
    String domain = slash < 0 ? signerName : signerName.substring(0, slash);
    return domain.equals("kubernetes.io") || domain.endsWith(".kubernetes.io");
  }

  /**
   * Checks {@code signerName} by the API server's rule.
   *
   * @param allowKubernetesIo whether the reserved {@code kubernetes.io} signers (served by
   *     kube-controller-manager) may be named
   * @return {@code signerName}
   * @throws IllegalArgumentException naming what is wrong and giving an example of a valid name
   */
  public static String require(String signerName, boolean allowKubernetesIo) {
    Objects.requireNonNull(signerName, "signerName");
    int slash = signerName.indexOf('/');
    if (slash < 0 || slash != signerName.lastIndexOf('/')) {
      throw invalid(signerName, "it must be a domain and a path separated by exactly one '/'");
    }
    if (signerName.length() > MAX_LENGTH) {
      throw invalid(signerName, "it is longer than " + MAX_LENGTH + " characters");
    }
    String domain = signerName.substring(0, slash);
    String path = signerName.substring(slash + 1);
    if (domain.length() > 253) {
      throw invalid(signerName, "the domain is longer than 253 characters");
    }
    String[] labels = domain.split("\\.", -1);
    if (labels.length < 2) {
      throw invalid(signerName, "the domain '" + domain + "' must have at least two parts separated by dots,"
          + " such as example.com");
    }
    for (String label : labels) {
      if (label.length() > 63 || !LABEL.matcher(label).matches()) {
        throw invalid(signerName, "the domain part '" + label + "' must be 1-63 lower-case letters, digits"
            + " or '-', starting and ending with a letter or digit");
      }
    }
    for (String part : path.split("\\.", -1)) {
      if (part.length() > 253 || !LABEL.matcher(part).matches()) {
        throw invalid(signerName, "the path part '" + part + "' must be lower-case letters, digits or '-',"
            + " starting and ending with a letter or digit, parts separated by single dots");
      }
    }
    if (!allowKubernetesIo && isKubernetesIo(signerName)) {
      throw new IllegalArgumentException("signerName '" + signerName + "' is in the reserved kubernetes.io domain"
          + " of Kubernetes' own signers; use a domain of your own, such as kube-mtls.dev/workload");
    }
    return signerName;
  }

  private static IllegalArgumentException invalid(String signerName, String why) {
    return new IllegalArgumentException("signerName '" + signerName + "' is not valid: " + why
        + " (the API server's rule; e.g. kube-mtls.dev/workload)");
  }
}
