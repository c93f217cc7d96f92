package dev.kubemtls.signer.internal;

import dev.kubemtls.core.names.ServiceNames;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.peer.SpiffeId;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.SignerConfig.PolicyMode;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Decides whether a CertificateSigningRequest may be approved: a pure function of the PKCS#10
 * request, its usages, the {@link Requester} the apiserver recorded and a {@link ClusterView} for
 * Pods and Services. It trusts the apiserver's record of who asked, never the request's own claims.
 *
 * <p>Both modes require: a ServiceAccount requester; a well-formed request with an EC P-256 or P-384
 * key or an RSA key of 2048 to 8192 bits, signed with SHA-256, -384 or -512 (no SHA-1), whose
 * signature verifies with its own key (proof of possession); no CA request; at most
 * {@link #maxNames()} SANs (default 64), none twice, no IPv4-mapped IPv6 address; only the usages digital signature, key
 * encipherment (RSA keys only), server auth and client auth; no email or other exotic SANs; at most
 * one URI SAN, and it must be the requester's SPIFFE ID {@code spiffe://<td>/ns/<ns>/sa/<sa>}; no
 * wildcard; a subject that is empty or a single common name equal to one of the requested names or
 * to the requester's own username ({@code system:serviceaccount:<ns>:<sa>}, what kube-mtls' requester sends);
 * and at least one name. An IP address SAN must be the requesting Pod's IP, which needs a token
 * bound to a live Pod of that ServiceAccount ({@link Requester#POD_NAME_EXTRA} and
 * {@link Requester#POD_UID_EXTRA}, the UID matching), and a Pod on the host network gets no IP SAN
 * (its IP is its node's). A ServiceAccount requester is one the API server reports in both
 * {@code system:serviceaccounts} and {@code system:serviceaccounts:<ns>}. Usages must name an
 * extended key usage (server auth, client auth or both).
 *
 * <ul>
 *   <li>{@link #strict} (the default): each DNS name must be {@code svc.ns},
 *       {@code svc.ns.svc} or {@code svc.ns.svc.<clusterDomain>} of a Service in the requester's
 *       namespace whose selector matches the requesting Pod's labels, or the bare {@code svc} when
 *       {@link #withBareServiceNames bare names} are turned on (off by default, a risk); DNS names
 *       need the Pod binding.</li>
 *   <li>{@link #loose}: any name under the requester's namespace,
 *       {@code <x>.<ns>}, {@code <x>.<ns>.svc} or {@code <x>.<ns>.svc.<clusterDomain>}, where
 *       {@code <x>} is one or more DNS labels, read by the most specific form only
 *       ({@link #namespaceOf}): a namespace named {@code svc} or {@code local} gets no other
 *       namespace's names; DNS names need no Pod binding. Use it where every
 *       ServiceAccount of a namespace is trusted with all the namespace's names.</li>
 * </ul>
 *
 * <p>Every denial message is short, whatever the request holds: lists name their first few items
 * and count the rest.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class ApprovalPolicy {

  private static final Pattern IP_LITERAL = Pattern.compile("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*");

  private final PolicyMode mode;
  private final String trustDomain;
  private final String clusterDomain;
  private final int maxNames;
  private final boolean bareServiceNames;

  private ApprovalPolicy(PolicyMode mode, String trustDomain, String clusterDomain, int maxNames) {
    this(mode, trustDomain, clusterDomain, maxNames, false);
  }

  private ApprovalPolicy(PolicyMode mode, String trustDomain, String clusterDomain, int maxNames,
      boolean bareServiceNames) {
    this.bareServiceNames = bareServiceNames;
    this.mode = Objects.requireNonNull(mode, "mode");
    this.trustDomain = new SpiffeId(Objects.requireNonNull(trustDomain, "trustDomain"), "").trustDomain();
    this.clusterDomain = KubernetesNames.requireDnsSubdomain("clusterDomain", clusterDomain);
    if (maxNames < 1 || maxNames > RequestRules.MAX_NAMES_CEILING) {
      throw new IllegalArgumentException("maxNames must be between 1 and " + RequestRules.MAX_NAMES_CEILING
          + ", was " + maxNames);
    }
    this.maxNames = maxNames;
  }

  private ApprovalPolicy(PolicyMode mode, String trustDomain, String clusterDomain) {
    this(mode, trustDomain, clusterDomain, RequestRules.DEFAULT_MAX_NAMES);
  }

  /** The strict policy for {@code trustDomain} (e.g. {@code cluster.local}) and the cluster DNS domain. */
  public static ApprovalPolicy strict(String trustDomain, String clusterDomain) {
    return new ApprovalPolicy(PolicyMode.STRICT, trustDomain, clusterDomain);
  }

  /** The loose policy for {@code trustDomain} and the cluster DNS domain. */
  public static ApprovalPolicy loose(String trustDomain, String clusterDomain) {
    return new ApprovalPolicy(PolicyMode.LOOSE, trustDomain, clusterDomain);
  }

  /** A policy in the given mode. */
  public static ApprovalPolicy of(PolicyMode mode, String trustDomain, String clusterDomain) {
    return new ApprovalPolicy(mode, trustDomain, clusterDomain);
  }

  /** The policy a signer configuration selects: its mode, domains, name limit and bare-name choice. */
  public static ApprovalPolicy forConfig(SignerConfig config) {
    return of(config.policyMode(), config.trustDomain(), config.clusterDomain()).withMaxNames(config.maxNames())
        .withBareServiceNames(config.bareServiceNames());
  }

  /** The mode of this policy. */
  public PolicyMode mode() {
    return mode;
  }

  /** The most subject alternative names a request may hold (default 64). */
  public int maxNames() {
    return maxNames;
  }

  /** This policy allowing at most {@code maxNames} SANs per request, 1 to 256. */
  public ApprovalPolicy withMaxNames(int maxNames) {
    return new ApprovalPolicy(mode, trustDomain, clusterDomain, maxNames, bareServiceNames);
  }

  /** Whether the bare Service name ({@code svc}) is issued in strict mode; off by default. */
  public boolean bareServiceNames() {
    return bareServiceNames;
  }

  /**
   * This policy issuing (or not) the bare Service name {@code svc} besides {@code svc.ns},
   * {@code svc.ns.svc} and {@code svc.ns.svc.<clusterDomain>} in strict mode ({@code
   * --bare-service-names}). Off by default, and a risk when on: a bare name means a different Service
   * in every namespace, so a certificate for {@code echo} issued to namespace {@code a} is accepted by
   * a client in namespace {@code b} that dials its own {@code echo} and verifies only the host name.
   * Turn it on only where no client relies on a bare name for its identity check, or where every
   * namespace is trusted alike. Loose mode never issues bare names.
   */
  public ApprovalPolicy withBareServiceNames(boolean bare) {
    return new ApprovalPolicy(mode, trustDomain, clusterDomain, maxNames, bare);
  }

  /**
   * The DNS names a Pod that a Service {@code service} of {@code namespace} selects may hold, under
   * this policy: {@code service.ns}, {@code service.ns.svc}, {@code service.ns.svc.<clusterDomain>},
   * and the bare {@code service} only with {@link #bareServiceNames()}. One rule for CSRs and
   * PodCertificateRequests.
   */
  public List<String> serviceDnsNames(String service, String namespace) {
    return new ArrayList<>(ServiceNames.of(service, namespace, clusterDomain, bareServiceNames));
  }

  /**
   * Whether IP SANs may be issued to {@code pod}: its IPs are its own only when it does not use the
   * host network (a host-network Pod has the node's IP). One rule for CSRs and PodCertificateRequests.
   */
  public static boolean mayHoldIpSans(ClusterView.PodInfo pod) {
    return !pod.hostNetwork();
  }

  /**
   * Decides on one request.
   *
   * @param requestPem the PEM text of {@code spec.request}
   * @param usages     {@code spec.usages}
   * @param requester  what the apiserver recorded about the creator
   * @param cluster    lookups of Pods and Services; consulted only when needed
   */
  public ApprovalDecision decide(String requestPem, List<String> usages, Requester requester, ClusterView cluster) {
    Objects.requireNonNull(requester, "requester");
    if (requester.serviceAccount().isEmpty()) {
      return notServiceAccount(requester);
    }
    ParsedCsr csr;
    try {
      csr = ParsedCsr.parse(requestPem);
    } catch (InvalidMaterialException e) {
      return ApprovalDecision.deny(ApprovalDecision.MALFORMED_REQUEST, e.getMessage());
    }
    return decide(csr, usages, requester, cluster);
  }

  /**
   * Decides on a request already read: what the signer's controller calls, so that the same request
   * (and its one signature check) goes on to {@link CertificateAuthority#sign(CertificateRequest,
   * List, Integer)}.
   */
  public ApprovalDecision decide(CertificateRequest csr, List<String> usages, Requester requester,
      ClusterView cluster) {
    return decide(Objects.requireNonNull(csr, "csr").parsed, usages, requester, cluster);
  }

  ApprovalDecision decide(ParsedCsr csr, List<String> usages, Requester requester, ClusterView cluster) {
    Objects.requireNonNull(csr, "csr");
    Objects.requireNonNull(usages, "usages");
    Objects.requireNonNull(requester, "requester");
    Objects.requireNonNull(cluster, "cluster");
    Optional<Requester.ServiceAccount> maybeSa = requester.serviceAccount();
    if (maybeSa.isEmpty()) {
      return notServiceAccount(requester);
    }
    Requester.ServiceAccount sa = maybeSa.get();
    Optional<RequestRules.Violation> violation = RequestRules.check(csr, maxNames)
        .or(() -> RequestRules.shapeProblem(csr, usages));
    if (violation.isPresent()) {
      return ApprovalDecision.deny(violation.get().reason(), violation.get().message());
    }
    String spiffeId = SpiffeId.forServiceAccount(trustDomain, sa.namespace(), sa.name()).toString();
    if (csr.uris().size() == 1 && !csr.uris().get(0).equals(spiffeId)) {
      return ApprovalDecision.deny(ApprovalDecision.SPIFFE_ID_MISMATCH,
          "the only URI SAN allowed is the requester's SPIFFE ID " + spiffeId + "; found " + Bounded.list(csr.uris()));
    }
    Set<String> names = RequestRules.names(csr);
    Optional<String> subjectProblem = subjectProblem(csr, names, requester.username());
    if (subjectProblem.isPresent()) {
      return ApprovalDecision.deny(ApprovalDecision.SUBJECT_NOT_ALLOWED, subjectProblem.get());
    }

    boolean needsPod = !csr.ipAddresses().isEmpty() || (mode == PolicyMode.STRICT && !csr.dnsNames().isEmpty());
    ClusterView.PodInfo pod = null;
    if (needsPod) {
      Optional<String> podName = requester.extraValue(Requester.POD_NAME_EXTRA);
      if (podName.isEmpty()) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, "DNS names and IP addresses are issued"
            + " only to a token bound to a Pod (" + Requester.POD_NAME_EXTRA + "); use the projected"
            + " ServiceAccount token of the Pod");
      }
      Optional<ClusterView.PodInfo> found = cluster.pod(sa.namespace(), podName.get());
      String where = "Pod " + sa.namespace() + "/" + podName.get();
      if (found.isEmpty()) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, where + " does not exist");
      }
      pod = found.get();
      // A bound token always carries both; a name without a UID could be a Pod of that name created
      // after the token's Pod was deleted.
      Optional<String> podUid = requester.extraValue(Requester.POD_UID_EXTRA);
      if (podUid.isEmpty()) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, "the token names " + where
            + " but not its UID (" + Requester.POD_UID_EXTRA + "); use the projected ServiceAccount token of the Pod");
      }
      if (!podUid.get().equals(pod.uid())) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, where
            + " is not the Pod the token was bound to (UID differs)");
      }
      if (!pod.serviceAccount().equals(sa.name())) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, where + " runs as ServiceAccount "
            + pod.serviceAccount() + ", not " + sa.name());
      }
      if (pod.terminating()) {
        return ApprovalDecision.deny(ApprovalDecision.POD_BINDING_REQUIRED, where + " is terminating or finished");
      }
    }
    if (!csr.ipAddresses().isEmpty() && !mayHoldIpSans(pod)) {
      return ApprovalDecision.deny(ApprovalDecision.UNAUTHORIZED_IP_ADDRESS, "Pod " + sa.namespace() + "/" + pod.name()
          + " uses the host network: its IP is the node's, shared with every other host-network Pod there, so no"
          + " IP SAN is issued to it; use its DNS names or SPIFFE ID");
    }
    if (!csr.ipAddresses().isEmpty()) {
      ClusterView.PodInfo p = pod;
      Set<String> podIps = new java.util.HashSet<>();
      p.podIps().forEach(ip -> canonicalIp(ip).ifPresent(podIps::add));
      List<String> foreign = csr.ipAddresses().stream().filter(ip -> !podIps.contains(ip)).toList();
      if (!foreign.isEmpty()) {
        return ApprovalDecision.deny(ApprovalDecision.UNAUTHORIZED_IP_ADDRESS, "IP addresses " + Bounded.list(foreign)
            + " are not the IPs of Pod " + sa.namespace() + "/" + p.name() + " " + Bounded.list(p.podIps()));
      }
    }
    if (!csr.dnsNames().isEmpty()) {
      List<String> unauthorized = mode == PolicyMode.STRICT
          ? strictUnauthorized(csr.dnsNames(), sa.namespace(), pod, cluster)
          : looseUnauthorized(csr.dnsNames(), sa.namespace());
      if (!unauthorized.isEmpty()) {
        String rule = mode == PolicyMode.STRICT
            ? "names of Services in namespace " + sa.namespace() + " that select Pod " + pod.name()
            : "names under namespace " + sa.namespace() + " (<x>." + sa.namespace() + ", <x>." + sa.namespace()
                + ".svc, <x>." + sa.namespace() + ".svc." + clusterDomain + ")";
        return ApprovalDecision.deny(ApprovalDecision.UNAUTHORIZED_DNS_NAME,
            "DNS names " + Bounded.list(unauthorized) + " are not allowed for " + requester.username() + ": allowed are " + rule);
      }
    }
    return ApprovalDecision.approve("approved for " + requester.username() + ": " + Bounded.list(names));
  }

  private static ApprovalDecision notServiceAccount(Requester requester) {
    return ApprovalDecision.deny(ApprovalDecision.NOT_SERVICE_ACCOUNT, "the requester '"
        + Bounded.clip(requester.username(), Bounded.ITEM_CHARS) + "' is not a ServiceAccount ("
        + requester.notServiceAccountBecause().orElse("") + "); only ServiceAccounts get certificates from this signer");
  }

  private List<String> strictUnauthorized(List<String> dnsNames, String namespace, ClusterView.PodInfo pod,
      ClusterView cluster) {
    Set<String> allowed = new LinkedHashSet<>();
    for (ClusterView.ServiceInfo service : cluster.services(namespace)) {
      if (service.selects(pod.labels())) {
        allowed.addAll(serviceDnsNames(service.name(), namespace));
      }
    }
    return dnsNames.stream().filter(n -> !allowed.contains(n)).toList();
  }

  private List<String> looseUnauthorized(List<String> dnsNames, String namespace) {
    List<String> out = new ArrayList<>();
    for (String name : dnsNames) {
      if (!namespaceOf(name).filter(namespace::equals).isPresent()) {
        out.add(name);
      }
    }
    return out;
  }

  /**
   * The namespace a DNS name belongs to under the cluster's DNS scheme, read by its most specific
   * form: {@code <x>.<ns>.svc.<clusterDomain>}, else {@code <x>.<ns>.svc}, else {@code <x>.<ns>};
   * empty when {@code <x>} would be empty. Only the most specific reading counts, so a namespace
   * named {@code svc} does not own {@code echo.other.svc} (Service echo of namespace other, not
   * {@code <x>.svc} with x {@code echo.other}), and a namespace named {@code local} does not own
   * {@code kubernetes.default.svc.cluster.local}. What loose mode issues; {@code <x>} may have
   * several labels ({@code web-0.db.<ns>.svc.<clusterDomain>}, a StatefulSet Pod's name).
   */
  public Optional<String> namespaceOf(String dnsName) {
    String fqdnTail = ".svc." + clusterDomain;
    String rest;
    if (dnsName.endsWith(fqdnTail)) {
      rest = dnsName.substring(0, dnsName.length() - fqdnTail.length());
    } else if (dnsName.endsWith(".svc")) {
      rest = dnsName.substring(0, dnsName.length() - ".svc".length());
    } else {
      rest = dnsName;
    }
    int dot = rest.lastIndexOf('.');
    if (dot <= 0 || dot == rest.length() - 1) {
      return Optional.empty();
    }
    return Optional.of(rest.substring(dot + 1));
  }

  /** The form {@link java.net.InetAddress#getHostAddress()} gives an IP literal; empty for anything else. */
  private static Optional<String> canonicalIp(String literal) {
    // Only literals reach InetAddress, so no name is ever resolved.
    if (literal == null || literal.isEmpty() || !IP_LITERAL.matcher(literal).matches()) {
      return Optional.empty();
    }
    try {
      return Optional.of(java.net.InetAddress.getByName(literal).getHostAddress());
    } catch (java.net.UnknownHostException e) {
      return Optional.empty();
    }
  }

  private static Optional<String> subjectProblem(ParsedCsr csr, Set<String> names, String username) {
    Optional<String> cn;
    try {
      cn = RequestRules.commonName(csr);
    } catch (IllegalArgumentException e) {
      return Optional.of(e.getMessage());
    }
    if (cn.isPresent() && !names.contains(cn.get()) && !cn.get().equals(username)) {
      return Optional.of("the subject common name '" + Bounded.clip(cn.get(), Bounded.ITEM_CHARS)
          + "' must be the requester's username '" + Bounded.clip(username, Bounded.ITEM_CHARS)
          + "' or one of the requested names " + Bounded.list(names));
    }
    return Optional.empty();
  }

  @Override
  public String toString() {
    return "ApprovalPolicy[" + mode + ", trustDomain=" + trustDomain + ", clusterDomain=" + clusterDomain
        + ", maxNames=" + maxNames + "]";
  }
}
