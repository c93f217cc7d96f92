package dev.kubemtls.core.peer;

import dev.kubemtls.core.names.KubernetesNames;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * An allow-list of peers, checked once the TLS handshake has verified the peer's certificate
 * against the trust bundle.
 *
 * <p>A peer is allowed when it matches any entry: an exact SPIFFE ID, a namespace, or a
 * namespace/ServiceAccount pair. Every kube-mtls certificate names its workload by a SPIFFE ID,
 * so the default of every integration, {@link #anySpiffeId()} (also what a builder without
 * entries makes), allows every trusted peer <em>whose certificate carries a SPIFFE ID</em> and
 * refuses a certificate without one: the same CA may sign other certificates, and those are no
 * workload's identity. {@link #allowAll()} also accepts those. A client without any certificate
 * (on a server with optional client auth) passes only a policy without an allow-list
 * ({@link #hasAllowList()}). Policies are immutable and safe to share.
 */
public final class PeerPolicy {

  private static final PeerPolicy ALLOW_ALL = new PeerPolicy(Set.of(), Set.of(), Set.of(), false);
  private static final PeerPolicy ANY_SPIFFE_ID = new PeerPolicy(Set.of(), Set.of(), Set.of(), true);

  private final Set<String> spiffeIds;
  private final Set<String> namespaces;
  private final Set<String> serviceAccounts;
  private final boolean requireSpiffeId;

  private PeerPolicy(Set<String> spiffeIds, Set<String> namespaces, Set<String> serviceAccounts,
      boolean requireSpiffeId) {
    this.spiffeIds = Set.copyOf(spiffeIds);
    this.namespaces = Set.copyOf(namespaces);
    this.serviceAccounts = Set.copyOf(serviceAccounts);
    this.requireSpiffeId = requireSpiffeId;
  }

  /**
   * The default of every integration: allows every peer whose trusted certificate carries a
   * well-formed SPIFFE ID, whatever its trust domain, namespace or ServiceAccount.
   */
  public static PeerPolicy anySpiffeId() {
    return ANY_SPIFFE_ID;
  }

  /**
   * Allows every peer with a trusted certificate, with or without a SPIFFE ID, and, on a server
   * whose clients need not present a certificate, clients without one.
   */
  public static PeerPolicy allowAll() {
    return ALLOW_ALL;
  }

  /** An empty allow-list; add entries, or {@link Builder#build()} gives {@link #anySpiffeId()}. */
  public static Builder builder() {
    return new Builder();
  }

  /** Whether this policy allows every trusted peer, and peers without a certificate. */
  public boolean isAllowAll() {
    return !requireSpiffeId && !hasEntries();
  }

  /**
   * Whether this policy names peers (SPIFFE IDs, namespaces, ServiceAccounts). Only a policy without
   * an allow-list lets a client without a certificate in, on a server that does not require one.
   */
  public boolean hasAllowList() {
    return hasEntries();
  }

  private boolean hasEntries() {
    return !spiffeIds.isEmpty() || !namespaces.isEmpty() || !serviceAccounts.isEmpty();
  }

  /**
   * Checks a peer.
   *
   * @return empty if allowed, else a short reason fit for a log line or an HTTP 403 body
   */
  public Optional<String> denialReason(PeerIdentity peer) {
    Objects.requireNonNull(peer, "peer");
    if (isAllowAll()) {
      return Optional.empty();
    }
    if (peer.spiffeId().isEmpty()) {
      return Optional.of("peer " + peer.subject() + " has no SPIFFE ID and "
          + (hasEntries() ? "the allow-list requires one" : "kube-mtls peers must carry one"
              + " (PeerPolicy.allowAll() accepts certificates without)"));
    }
    if (!hasEntries()) {
      return Optional.empty();
    }
    String id = peer.spiffeId().get();
    if (spiffeIds.contains(id)) {
      return Optional.empty();
    }
    Optional<String> ns = peer.namespace();
    if (ns.isPresent() && namespaces.contains(ns.get())) {
      return Optional.empty();
    }
    Optional<String> sa = peer.serviceAccount();
    if (ns.isPresent() && sa.isPresent() && serviceAccounts.contains(ns.get() + "/" + sa.get())) {
      return Optional.empty();
    }
    return Optional.of("peer " + id + " is not in the allow-list");
  }

  @Override
  public String toString() {
    return isAllowAll() ? "PeerPolicy[allow all]"
        : !hasEntries() ? "PeerPolicy[any SPIFFE ID]"
        : "PeerPolicy[spiffeIds=" + spiffeIds + ", namespaces=" + namespaces
            + ", serviceAccounts=" + serviceAccounts + "]";
  }

  /** Collects allow-list entries; {@link #build()} validates them. */
  public static final class Builder {
    private final Set<String> spiffeIds = new LinkedHashSet<>();
    private final Set<String> namespaces = new LinkedHashSet<>();
    private final Set<String> serviceAccounts = new LinkedHashSet<>();

    private Builder() {}

    /** Allows the peer with exactly this SPIFFE ID. */
    public Builder allowSpiffeId(String spiffeId) {
      SpiffeId.parse(spiffeId);
      spiffeIds.add(spiffeId);
      return this;
    }

    /** Allows every workload in {@code namespace}. */
    public Builder allowNamespace(String namespace) {
      namespaces.add(KubernetesNames.requireDnsLabel("namespace", namespace));
      return this;
    }

    /** Allows the workloads running as {@code namespace/serviceAccount}. */
    public Builder allowServiceAccount(String namespace, String serviceAccount) {
      KubernetesNames.requireDnsLabel("namespace", namespace);
      KubernetesNames.requireDnsSubdomain("serviceAccount", serviceAccount);
      serviceAccounts.add(namespace + "/" + serviceAccount);
      return this;
    }

    /** The policy; without entries it is {@link PeerPolicy#anySpiffeId()}. */
    public PeerPolicy build() {
      if (spiffeIds.isEmpty() && namespaces.isEmpty() && serviceAccounts.isEmpty()) {
        return ANY_SPIFFE_ID;
      }
      return new PeerPolicy(spiffeIds, namespaces, serviceAccounts, true);
    }
  }
}
