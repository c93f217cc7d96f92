package dev.kubemtls.core.peer;

import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A SPIFFE ID, {@code spiffe://<trust-domain>/<path>}, as kube-mtls uses it for Kubernetes
 * workloads: {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>The syntax follows the SPIFFE ID specification: a lower-case trust domain of letters, digits,
 * dots, dashes and underscores; a path of non-empty segments of letters, digits, dots, dashes and
 * underscores, none of them {@code .} or {@code ..}; no query, fragment, port or user info.
 *
 * @param trustDomain the trust domain, e.g. {@code cluster.local}
 * @param path        the path, starting with {@code /}, or empty
 */
public record SpiffeId(String trustDomain, String path) {

  private static final Pattern TRUST_DOMAIN = Pattern.compile("[a-z0-9._-]{1,255}");
  private static final Pattern SEGMENT = Pattern.compile("[A-Za-z0-9._-]+");
  private static final String SCHEME = "spiffe://";
  private static final int MAX_LENGTH = 2048;

  public SpiffeId {
    Objects.requireNonNull(trustDomain, "trustDomain");
    Objects.requireNonNull(path, "path");
    if (!TRUST_DOMAIN.matcher(trustDomain).matches()) {
      throw new IllegalArgumentException("invalid SPIFFE trust domain '" + trustDomain
          + "': use lower-case letters, digits, '.', '-' and '_'");
    }
    if (!path.isEmpty()) {
      if (!path.startsWith("/")) {
        throw new IllegalArgumentException("a SPIFFE path must start with '/': " + path);
      }
      for (String segment : path.substring(1).split("/", -1)) {
        if (!SEGMENT.matcher(segment).matches() || segment.equals(".") || segment.equals("..")) {
          throw new IllegalArgumentException("invalid SPIFFE path segment '" + segment + "' in " + path);
        }
      }
    }
  }

  /** The ID of a Kubernetes ServiceAccount: {@code spiffe://<td>/ns/<namespace>/sa/<name>}. */
  public static SpiffeId forServiceAccount(String trustDomain, String namespace, String serviceAccount) {
    return new SpiffeId(trustDomain, "/ns/" + namespace + "/sa/" + serviceAccount);
  }

  /**
   * Parses a SPIFFE ID.
   *
   * @throws IllegalArgumentException naming what is wrong with {@code uri}
   */
  public static SpiffeId parse(String uri) {
    Objects.requireNonNull(uri, "uri");
    if (uri.length() > MAX_LENGTH) {
      throw new IllegalArgumentException("a SPIFFE ID is at most " + MAX_LENGTH + " characters");
    }
    if (!uri.startsWith(SCHEME)) {
      throw new IllegalArgumentException("a SPIFFE ID starts with spiffe://: " + uri);
    }
    String rest = uri.substring(SCHEME.length());
    int slash = rest.indexOf('/');
    String td = slash < 0 ? rest : rest.substring(0, slash);
    String path = slash < 0 ? "" : rest.substring(slash);
    return new SpiffeId(td, path);
  }

  /** Whether {@code uri} is a well-formed SPIFFE ID. */
  public static boolean isValid(String uri) {
    try {
      parse(uri);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** The namespace, when the path has the form {@code /ns/<namespace>/sa/<name>}. */
  public Optional<String> namespace() {
    String[] s = path.split("/", -1);
    return s.length == 5 && s[1].equals("ns") && s[3].equals("sa") ? Optional.of(s[2]) : Optional.empty();
  }

  /** The ServiceAccount, when the path has the form {@code /ns/<namespace>/sa/<name>}. */
  public Optional<String> serviceAccount() {
    String[] s = path.split("/", -1);
    return s.length == 5 && s[1].equals("ns") && s[3].equals("sa") ? Optional.of(s[4]) : Optional.empty();
  }

  @Override
  public String toString() {
    return SCHEME + trustDomain + path;
  }
}
