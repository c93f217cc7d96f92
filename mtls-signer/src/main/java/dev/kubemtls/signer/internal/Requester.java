package dev.kubemtls.signer.internal;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Who created a CertificateSigningRequest, as the kube-apiserver recorded it in
 * {@code spec.username}, {@code spec.uid}, {@code spec.groups} and {@code spec.extra}. These fields
 * are the only identity the approver trusts: the apiserver fills them in from the authenticated
 * request and nobody can change them afterwards, whereas everything inside the PKCS#10 request is a
 * claim of the requester.
 *
 * @param username the authenticated user name, e.g. {@code system:serviceaccount:shop:cart}
 * @param uid      the user's UID, or empty
 * @param groups   the user's groups
 * @param extra    extra attributes; a bound ServiceAccount token adds
 *                 {@value #POD_NAME_EXTRA} and {@value #POD_UID_EXTRA}
 */
public record Requester(String username, String uid, List<String> groups, Map<String, List<String>> extra) {

  /** The extra attribute that names the Pod a bound ServiceAccount token belongs to. */
  public static final String POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
  /** The extra attribute that holds the UID of the Pod a bound ServiceAccount token belongs to. */
  public static final String POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid";

  private static final String SA_PREFIX = "system:serviceaccount:";
  /** The group of every ServiceAccount. */
  public static final String ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts";

  /** Copies the collections; a null uid, groups or extra becomes empty. */
  public Requester {
    Objects.requireNonNull(username, "username");
    uid = uid == null ? "" : uid;
    groups = groups == null ? List.of() : List.copyOf(groups);
    extra = extra == null ? Map.of() : Map.copyOf(extra);
  }

  /** A ServiceAccount as a requester: its namespace and name. */
  public record ServiceAccount(String namespace, String name) {
    /** Checks both parts are present. */
    public ServiceAccount {
      Objects.requireNonNull(namespace, "namespace");
      Objects.requireNonNull(name, "name");
    }
  }

  /**
   * The ServiceAccount, when the user name has the form {@code system:serviceaccount:<ns>:<name>}
   * and the groups include both {@code system:serviceaccounts} and {@code system:serviceaccounts:<ns>},
   * as the ServiceAccount token authenticator reports for every ServiceAccount token. Another
   * authenticator (a webhook, an OIDC issuer with a prefix-less mapping, an impersonation with
   * explicit groups) that reports such a user name but not the namespace group is not taken for a
   * ServiceAccount.
   */
  public Optional<ServiceAccount> serviceAccount() {
    if (!username.startsWith(SA_PREFIX) || !groups.contains(ALL_SERVICE_ACCOUNTS_GROUP)) {
      return Optional.empty();
    }
    String[] parts = username.substring(SA_PREFIX.length()).split(":", -1);
    if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
      return Optional.empty();
    }
    if (!groups.contains(ALL_SERVICE_ACCOUNTS_GROUP + ":" + parts[0])) {
      return Optional.empty();
    }
    return Optional.of(new ServiceAccount(parts[0], parts[1]));
  }

  /**
   * Why {@link #serviceAccount()} is empty, in words for a denial message (the user name clipped and
   * escaped by the caller); empty when it is present.
   */
  public Optional<String> notServiceAccountBecause() {
    if (!username.startsWith(SA_PREFIX)) {
      return Optional.of("its user name does not start with " + SA_PREFIX);
    }
    if (!groups.contains(ALL_SERVICE_ACCOUNTS_GROUP)) {
      return Optional.of("it is not in the group " + ALL_SERVICE_ACCOUNTS_GROUP);
    }
    String[] parts = username.substring(SA_PREFIX.length()).split(":", -1);
    if (parts.length != 2 || parts[0].isEmpty() || parts[1].isEmpty()) {
      return Optional.of("its user name is not " + SA_PREFIX + "<namespace>:<name>");
    }
    if (!groups.contains(ALL_SERVICE_ACCOUNTS_GROUP + ":" + parts[0])) {
      return Optional.of("it is not in the namespace group " + ALL_SERVICE_ACCOUNTS_GROUP + ":" + parts[0]);
    }
    return Optional.empty();
  }

  /** The single value of an extra attribute; empty when absent or ambiguous. */
  public Optional<String> extraValue(String key) {
    List<String> values = extra.get(key);
    return values != null && values.size() == 1 && !values.get(0).isEmpty()
        ? Optional.of(values.get(0)) : Optional.empty();
  }
}
