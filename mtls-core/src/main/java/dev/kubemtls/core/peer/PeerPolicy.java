package dev.kubemtls.core.peer;

import dev.kubemtls.core.names.KubernetesNames;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * An allow-list of peers, checked after the TLS handshake has verified the peer's certificate.
 *
 * <p>A peer is allowed when it matches any entry: an exact SPIFFE ID, a namespace, or a
 * namespace/ServiceAccount pair. A policy with no entries ({@link #allowAll()}) allows every peer
 * the trust bundle accepts. Policies are immutable and safe to share.
 */
public final class PeerPolicy {

  private static final PeerPolicy ALLOW_ALL = new PeerPolicy(Set.of(), Set.of(), Set.of());

  private final Set<String> spiffeIds;
  private final Set<String> namespaces;
  private final Set<String> serviceAccounts;

  private PeerPolicy(Set<String> spiffeIds, Set<String> namespaces, Set<String> serviceAccounts) {
    this.spiffeIds = Set.copyOf(spiffeIds);
    this.namespaces = Set.copyOf(namespaces);
    this.serviceAccounts = Set.copyOf(serviceAccounts);
  }

  /** Allows every peer with a trusted certificate. */
  public static PeerPolicy allowAll() {
    return ALLOW_ALL;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Whether this policy allows every trusted peer. */
  public boolean isAllowAll() {
    return spiffeIds.isEmpty() && namespaces.isEmpty() && serviceAccounts.isEmpty();
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
      return Optional.of("peer " + peer.subject() + " has no SPIFFE ID and the allow-list requires one");
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

    public PeerPolicy build() {
      return new PeerPolicy(spiffeIds, namespaces, serviceAccounts);
    }
  }
}
