package dev.kubemtls.core;

import java.util.Objects;
import java.util.regex.Pattern;

/** Validation of the Kubernetes name forms kube-mtls accepts, with errors that name the field. */
public final class KubernetesNames {

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  private static final Pattern DNS_SUBDOMAIN =
      Pattern.compile("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");

  private KubernetesNames() {}

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
