package dev.kubemtls.core.names;

import java.util.Objects;
import java.util.regex.Pattern;

/** Validation of the Kubernetes name forms kube-mtls accepts, with errors that name the field. */
public final class KubernetesNames {

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  private static final Pattern DNS_SUBDOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

  private static final Pattern LABEL_NAME = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");
  private static final Pattern LABEL_VALUE = Pattern.compile("([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?");

  private KubernetesNames() {}

  /**
   * A label {@code key=value} pair: the key an optional DNS-subdomain prefix and '/' before a name
   * of at most 63 characters, the value empty or at most 63 characters.
   *
   * @throws IllegalArgumentException naming {@code field} and the part that is wrong
   */
  public static void requireLabel(String field, String key, String value) {
    Objects.requireNonNull(key, field + " key");
    Objects.requireNonNull(value, field + " value");
    int slash = key.indexOf('/');
    String prefix = slash < 0 ? null : key.substring(0, slash);
    String name = key.substring(slash + 1);
    if ((prefix != null && (prefix.length() > 253 || !DNS_SUBDOMAIN.matcher(prefix).matches()))
        || !LABEL_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException(field + ": label key '" + key + "' is not a valid Kubernetes label key:"
          + " an optional DNS-subdomain prefix and '/', then at most 63 letters, digits, '-', '_' and '.'");
    }
    if (!LABEL_VALUE.matcher(value).matches()) {
      throw new IllegalArgumentException(field + ": label value '" + value + "' of '" + key + "' is not a valid"
          + " Kubernetes label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with"
          + " a letter or digit");
    }
  }

  /** An RFC 1123 label (namespaces, Service names): at most 63 lower-case alphanumerics or '-'. */
  public static String requireDnsLabel(String field, String value) {
    Objects.requireNonNull(value, field);
    if (value.length() > 63 || !DNS_LABEL.matcher(value).matches()) {
      throw new IllegalArgumentException(field + " '" + value + "' is not a valid DNS label: use at most 63"
          + " lower-case letters, digits and '-', starting and ending with a letter or digit");
    }
    return value;
  }

  /** An RFC 1123 subdomain (ServiceAccount and object names): at most 253 characters. */
  public static String requireDnsSubdomain(String field, String value) {
    Objects.requireNonNull(value, field);
    if (value.length() > 253 || !DNS_SUBDOMAIN.matcher(value).matches()) {
      throw new IllegalArgumentException(field + " '" + value + "' is not a valid DNS subdomain: use at most"
          + " 253 lower-case letters, digits, '-' and '.', each part starting and ending with a letter or digit");
    }
    return value;
  }
}
