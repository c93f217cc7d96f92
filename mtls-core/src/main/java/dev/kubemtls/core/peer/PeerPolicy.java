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
 * <p>A peer is allowed when it matches any entry: an exact SPIFFE ID, a whole trust domain, a
 * namespace, or a namespace/ServiceAccount pair. Namespaces and ServiceAccounts are names inside one
 * trust domain: {@code shop} in {@code cluster.local} and {@code shop} in another cluster that the
 * same bundle happens to trust are different workloads. So namespace and ServiceAccount entries
 * match only peers of the policy's trust domain, {@link Builder#trustDomain(String)}, which is
 * {@value #DEFAULT_TRUST_DOMAIN} (the signer's default) unless set; a peer of another trust domain
 * gets in only through an exact SPIFFE ID or an {@link Builder#allowTrustDomain(String)} entry.
 *
 * <p>Every kube-mtls certificate names its workload by a SPIFFE ID, so the default of every
 * integration, {@link #anySpiffeId()} (also what a builder without entries makes), allows every
 * trusted peer <em>whose certificate carries a SPIFFE ID</em> and refuses a certificate without one:
 * the same CA may sign other certificates, and those are no workload's identity.
 * {@link #anySpiffeIdIn(String)} also pins the trust domain. {@link #allowAll()} accepts certificates
 * without a SPIFFE ID too. A client without any certificate (on a server with optional client auth)
 * passes only a policy without an allow-list ({@link #hasAllowList()}). Policies are immutable and
 * safe to share.
 */
public final class PeerPolicy {

  /** The trust domain namespace and ServiceAccount entries belong to unless the builder names one. */
  public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";

  private static final PeerPolicy ALLOW_ALL =
      new PeerPolicy(Set.of(), Set.of(), Set.of(), Set.of(), DEFAULT_TRUST_DOMAIN, false);
  private static final PeerPolicy ANY_SPIFFE_ID =
      new PeerPolicy(Set.of(), Set.of(), Set.of(), Set.of(), DEFAULT_TRUST_DOMAIN, true);

  private final Set<String> spiffeIds;
  private final Set<String> trustDomains;
  private final Set<String> namespaces;
  private final Set<String> serviceAccounts;
  private final String trustDomain;
  private final boolean requireSpiffeId;

  private PeerPolicy(Set<String> spiffeIds, Set<String> trustDomains, Set<String> namespaces,
      Set<String> serviceAccounts, String trustDomain, boolean requireSpiffeId) {
    this.spiffeIds = Set.copyOf(spiffeIds);
    this.trustDomains = Set.copyOf(trustDomains);
    this.namespaces = Set.copyOf(namespaces);
    this.serviceAccounts = Set.copyOf(serviceAccounts);
    this.trustDomain = trustDomain;
    this.requireSpiffeId = requireSpiffeId;
  }

  /**
   * The default of every integration: allows every peer whose trusted certificate carries a
   * well-formed SPIFFE ID, whatever its trust domain, namespace or ServiceAccount.
   */
  public static PeerPolicy anySpiffeId() {
    return ANY_SPIFFE_ID;
  }

  /** Allows every peer whose trusted certificate carries a SPIFFE ID in {@code trustDomain}. */
  public static PeerPolicy anySpiffeIdIn(String trustDomain) {
    return builder().allowTrustDomain(trustDomain).build();
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
   * Whether this policy names peers (SPIFFE IDs, trust domains, namespaces, ServiceAccounts). Only a
   * policy without an allow-list lets a client without a certificate in, on a server that does not
   * require one.
   */
  public boolean hasAllowList() {
    return hasEntries();
  }

  /** The trust domain namespace and ServiceAccount entries are read in. */
  public String trustDomain() {
    return trustDomain;
  }

  private boolean hasEntries() {
    return !spiffeIds.isEmpty() || !trustDomains.isEmpty() || !namespaces.isEmpty()
        || !serviceAccounts.isEmpty();
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
    SpiffeId parsed = SpiffeId.parse(id);
    if (trustDomains.contains(parsed.trustDomain())) {
      return Optional.empty();
    }
    if (parsed.trustDomain().equals(trustDomain)) {
      Optional<String> ns = parsed.namespace();
      if (ns.isPresent() && namespaces.contains(ns.get())) {
        return Optional.empty();
      }
      Optional<String> sa = parsed.serviceAccount();
      if (ns.isPresent() && sa.isPresent() && serviceAccounts.contains(ns.get() + "/" + sa.get())) {
        return Optional.empty();
      }
    } else if (!namespaces.isEmpty() || !serviceAccounts.isEmpty()) {
      return Optional.of("peer " + id + " is in trust domain " + parsed.trustDomain()
          + ", not in the allow-list's trust domain " + trustDomain
          + (trustDomains.isEmpty() ? "" : " or " + trustDomains));
    }
    return Optional.of("peer " + id + " is not in the allow-list");
  }

  @Override
  public String toString() {
    return isAllowAll() ? "PeerPolicy[allow all]"
        : !hasEntries() ? "PeerPolicy[any SPIFFE ID]"
        : "PeerPolicy[spiffeIds=" + spiffeIds + ", trustDomains=" + trustDomains
            + ", in " + trustDomain + ": namespaces=" + namespaces
            + ", serviceAccounts=" + serviceAccounts + "]";
  }

  /** Collects allow-list entries; {@link #build()} validates them. */
  public static final class Builder {
    private final Set<String> spiffeIds = new LinkedHashSet<>();
    private final Set<String> trustDomains = new LinkedHashSet<>();
    private final Set<String> namespaces = new LinkedHashSet<>();
    private final Set<String> serviceAccounts = new LinkedHashSet<>();
    private String trustDomain = DEFAULT_TRUST_DOMAIN;

    private Builder() {}

    /**
     * The trust domain that namespace and ServiceAccount entries belong to, for example the
     * signer's {@code --trust-domain}; {@value PeerPolicy#DEFAULT_TRUST_DOMAIN} by default.
     */
    public Builder trustDomain(String trustDomain) {
      this.trustDomain = requireTrustDomain(trustDomain);
      return this;
    }

    /** Allows the peer with exactly this SPIFFE ID (in any trust domain the bundle trusts). */
    public Builder allowSpiffeId(String spiffeId) {
      SpiffeId.parse(spiffeId);
      spiffeIds.add(spiffeId);
      return this;
    }

    /** Allows every workload of {@code trustDomain} whose certificate carries a SPIFFE ID. */
    public Builder allowTrustDomain(String trustDomain) {
      trustDomains.add(requireTrustDomain(trustDomain));
      return this;
    }

    /** Allows every workload in {@code namespace} of the policy's trust domain. */
    public Builder allowNamespace(String namespace) {
      namespaces.add(KubernetesNames.requireDnsLabel("namespace", namespace));
      return this;
    }

    /** Allows the workloads running as {@code namespace/serviceAccount} in the policy's trust domain. */
    public Builder allowServiceAccount(String namespace, String serviceAccount) {
      KubernetesNames.requireDnsLabel("namespace", namespace);
      KubernetesNames.requireDnsSubdomain("serviceAccount", serviceAccount);
      serviceAccounts.add(namespace + "/" + serviceAccount);
      return this;
    }

    /** The policy; without entries it is {@link PeerPolicy#anySpiffeId()}. */
    public PeerPolicy build() {
      if (spiffeIds.isEmpty() && trustDomains.isEmpty() && namespaces.isEmpty() && serviceAccounts.isEmpty()) {
        return ANY_SPIFFE_ID;
      }
      return new PeerPolicy(spiffeIds, trustDomains, namespaces, serviceAccounts, trustDomain, true);
    }

    private static String requireTrustDomain(String trustDomain) {
      Objects.requireNonNull(trustDomain, "trustDomain");
      // The SPIFFE ID rules for a trust domain, with SpiffeId's message.
      return new SpiffeId(trustDomain, "").trustDomain();
    }
  }
}
