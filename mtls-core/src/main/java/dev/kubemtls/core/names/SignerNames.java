package dev.kubemtls.core.names;

import java.util.Objects;
import java.util.regex.Pattern;

/** Validation of certificates.k8s.io signer names, {@code <domain>/<path>}, before anything is sent. */
public final class SignerNames {

  private static final Pattern DOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+");
  private static final Pattern PATH = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?");

  private SignerNames() {}

  /**
   * Checks {@code signerName}.
   *
   * @param allowKubernetesIo whether signers in the reserved {@code kubernetes.io} domain (served by
   *     kube-controller-manager) may be used
   * @throws IllegalArgumentException naming the field and what is wrong
   */
  public static String require(String signerName, boolean allowKubernetesIo) {
    Objects.requireNonNull(signerName, "signerName");
    int slash = signerName.indexOf('/');
    if (slash < 0 || slash != signerName.lastIndexOf('/')) {
      throw new IllegalArgumentException("signerName '" + signerName
          + "' must be a domain and a path separated by one '/', e.g. 'example.com/my-signer'");
    }
    String domain = signerName.substring(0, slash);
    String path = signerName.substring(slash + 1);
    if (domain.length() > 253 || !DOMAIN.matcher(domain).matches()) {
      throw new IllegalArgumentException("signerName '" + signerName + "': the domain '" + domain
          + "' must be a fully qualified lower-case DNS name such as 'example.com'");
    }
    if (path.length() > 253 || !PATH.matcher(path).matches()) {
      throw new IllegalArgumentException("signerName '" + signerName + "': the path '" + path
          + "' must be 1-253 letters, digits, '-', '_' or '.', starting and ending with a letter or digit");
    }
    if (!allowKubernetesIo && (domain.equals("kubernetes.io") || domain.endsWith(".kubernetes.io"))) {
      throw new IllegalArgumentException("signerName '" + signerName + "' is in the reserved kubernetes.io"
          + " domain; use your own signer (e.g. the kube-mtls signer's name) or opt in explicitly with"
          + " allowKubernetesIoSigner(true)");
    }
    return signerName;
  }
}
