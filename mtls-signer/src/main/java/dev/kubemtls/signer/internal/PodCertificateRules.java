package dev.kubemtls.signer.internal;

import dev.kubemtls.core.names.ServiceNames;
import dev.kubemtls.core.peer.SpiffeId;
import java.security.PublicKey;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * Decides what a PodCertificateRequest gets: a pure function of the request's spec, the signer's
 * limits and a {@link ClusterView} of the Pod and the Services of its namespace. The same for
 * {@code certificates.k8s.io/v1} and {@code v1beta1} requests.
 *
 * <p>What the API server already checked when the node created the request (and is relied on): the
 * requester is the node named in {@code spec.nodeName} (Node authorizer and NodeRestriction), the
 * node, Pod and ServiceAccount exist with the UIDs in the spec, the Pod is bound to that node and
 * runs as that ServiceAccount, the Pod is not a mirror Pod, and {@code maxExpirationSeconds} is 3600
 * to 7,862,400 (91 days). See {@code plugin/pkg/admission/noderestriction} and
 * {@code pkg/apis/certificates/validation} in Kubernetes 1.35 to 1.37. The key and its proof of
 * possession the API server checked too; {@link PodCertificateKeys} checks them again.
 *
 * <p>What this adds, in this order: {@code unverifiedUserAnnotations} are refused (this signer
 * defines no keys, so every key is unknown: {@code InvalidUnverifiedUserAnnotations}); the subject
 * key is read from {@code spec.stubPKCS10Request} (1.36+) or from {@code spec.pkixPublicKey} and
 * {@code spec.proofOfPossession} (1.35) by {@link PodCertificateKeys}, which applies the same key
 * rules as for CSRs ({@link RequestRules#keyProblem}: EC P-256 or P-384, RSA 2048 to 8192 bits, so
 * Ed25519 and P-521 are {@code UnsupportedKeyType}); the Pod must still exist with the UID and
 * ServiceAccount of the request and not be terminating (a Pod's {@code spec.nodeName} cannot
 * change once set, so the same UID is the same node); the lifetime is {@code maxExpirationSeconds}
 * capped by the signer's {@code --max-ttl}, which must allow the API server's minimum of one hour.
 * The names follow the strict CSR ownership rule (in both policy modes): the SPIFFE ID of the Pod's
 * ServiceAccount; for every Service in the namespace whose selector matches the Pod's labels,
 * {@code <svc>.<ns>}, {@code <svc>.<ns>.svc} and {@code <svc>.<ns>.svc.<cluster domain>} (the bare
 * {@code <svc>} only when enabled: a bare name means a different Service in every namespace, so a
 * client that dials it could be answered by any namespace's Pod); and the Pod's IPs when it has
 * any and is not on the host network (a host-network Pod's IP is its node's, shared by every
 * host-network Pod there); at most {@code maxNames} in all. A Pod whose volumes are being set up
 * usually has no IP yet, so its first certificate names none.
 */
public final class PodCertificateRules {

  /** Denied: the key type is not one this signer issues for (the API's well-known reason). */
  public static final String UNSUPPORTED_KEY_TYPE = "UnsupportedKeyType";
  /** Denied: the request carries {@code unverifiedUserAnnotations} (the API's well-known reason). */
  public static final String INVALID_USER_ANNOTATIONS = "InvalidUnverifiedUserAnnotations";
  /** Denied: the Pod no longer exists, has another UID or ServiceAccount, or is terminating. */
  public static final String POD_MISMATCH = "PodMismatch";
  /** Denied: the names the Pod owns are more than {@code --max-names}. */
  public static final String TOO_MANY_NAMES = "TooManyNames";
  /** Failed: {@code --max-ttl} is below the API server's one-hour minimum for pod certificates. */
  public static final String LIFETIME_TOO_SHORT = "LifetimeTooShort";

  /** The reasons of {@code Denied} this signer writes on PodCertificateRequests. */
  public static final List<String> DENIAL_REASONS = List.of(UNSUPPORTED_KEY_TYPE, INVALID_USER_ANNOTATIONS,
      PodCertificateKeys.MALFORMED_REQUEST, PodCertificateKeys.INVALID_SIGNATURE, POD_MISMATCH, TOO_MANY_NAMES);
  /** The reasons of {@code Failed} this signer writes on PodCertificateRequests. */
  public static final List<String> FAILURE_REASONS = List.of(LIFETIME_TOO_SHORT, "CaExpired", "CaExpiresTooSoon",
      "SigningError", "IssuedStatusRejected");

  /**
   * The facts of one request's spec that the decision uses; the key fields are the base64 text of
   * the JSON, null or empty when absent ({@code v1} has no {@code pkixPublicKey} and
   * {@code proofOfPossession}).
   */
  public record Request(String namespace, String podName, String podUid, String serviceAccountName,
      String stubPkcs10Request, String pkixPublicKey, String proofOfPossession, Integer maxExpirationSeconds,
      Map<String, String> unverifiedUserAnnotations) {
    public Request {
      Objects.requireNonNull(namespace, "namespace");
      podName = podName == null ? "" : podName;
      podUid = podUid == null ? "" : podUid;
      serviceAccountName = serviceAccountName == null ? "" : serviceAccountName;
      unverifiedUserAnnotations = unverifiedUserAnnotations == null ? Map.of() : Map.copyOf(unverifiedUserAnnotations);
    }
  }

  /** What to do with a request. */
  public sealed interface Decision {
  }

  /** Issue a certificate for {@code key} with these names, valid for {@code lifetime}. */
  public record Issue(PublicKey key, List<String> uris, List<String> dnsNames, List<String> ips, Duration lifetime)
      implements Decision {
    public Issue {
      uris = List.copyOf(uris);
      dnsNames = List.copyOf(dnsNames);
      ips = List.copyOf(ips);
    }

    /** Every name, URIs first. */
    public List<String> names() {
      List<String> all = new ArrayList<>(uris);
      all.addAll(dnsNames);
      all.addAll(ips);
      return all;
    }
  }

  /** Refuse the request ({@code Denied}): the request itself, or the Pod, is not acceptable. */
  public record Deny(String reason, String message) implements Decision {
  }

  /** Give up on the request ({@code Failed}): this signer cannot issue it as configured. */
  public record Fail(String reason, String message) implements Decision {
  }

  private final String trustDomain;
  private final String clusterDomain;
  private final ValidityPolicy validity;
  private final int maxNames;
  private final boolean bareServiceNames;

  /** Rules without bare Service names. */
  public PodCertificateRules(String trustDomain, String clusterDomain, ValidityPolicy validity, int maxNames) {
    this(trustDomain, clusterDomain, validity, maxNames, false);
  }

  /**
   * @param trustDomain      the SPIFFE trust domain of issued IDs
   * @param clusterDomain    the cluster DNS domain of Service names
   * @param validity         the signer's lifetime limits ({@code --max-ttl} caps the lifetime)
   * @param maxNames         the most SANs one certificate holds
   * @param bareServiceNames whether a selecting Service's bare name ({@code <svc>}) is issued too
   */
  public PodCertificateRules(String trustDomain, String clusterDomain, ValidityPolicy validity, int maxNames,
      boolean bareServiceNames) {
    this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
    this.clusterDomain = Objects.requireNonNull(clusterDomain, "clusterDomain");
    this.validity = Objects.requireNonNull(validity, "validity");
    this.maxNames = maxNames;
    this.bareServiceNames = bareServiceNames;
  }

  /** Decides on {@code request}, looking the Pod and Services up in {@code cluster}. */
  public Decision decide(Request request, ClusterView cluster) {
    Objects.requireNonNull(request, "request");
    Objects.requireNonNull(cluster, "cluster");
    if (!request.unverifiedUserAnnotations().isEmpty()) {
      return new Deny(INVALID_USER_ANNOTATIONS, "this signer defines no unverifiedUserAnnotations and refuses"
          + " requests that carry any; found " + Bounded.list(List.copyOf(new java.util.TreeSet<>(
          request.unverifiedUserAnnotations().keySet()))) + "; remove userAnnotations from the podCertificate volume");
    }
    PodCertificateKeys.Result read = PodCertificateKeys.read(request.stubPkcs10Request(), request.pkixPublicKey(),
        request.proofOfPossession(), request.podUid());
    if (read instanceof PodCertificateKeys.Problem problem) {
      return new Deny(problem.reason(), problem.message());
    }
    PublicKey key = ((PodCertificateKeys.Key) read).key();
    String where = "Pod " + request.namespace() + "/" + request.podName();
    Optional<ClusterView.PodInfo> found = cluster.pod(request.namespace(), request.podName());
    if (found.isEmpty()) {
      return new Deny(POD_MISMATCH, where + " no longer exists");
    }
    ClusterView.PodInfo pod = found.get();
    if (!pod.uid().equals(request.podUid())) {
      return new Deny(POD_MISMATCH, where + " has UID " + pod.uid() + ", not the requested " + request.podUid()
          + " (the Pod was replaced)");
    }
    if (!pod.serviceAccount().equals(request.serviceAccountName())) {
      return new Deny(POD_MISMATCH, where + " runs as ServiceAccount " + pod.serviceAccount() + ", not "
          + request.serviceAccountName());
    }
    if (pod.terminating()) {
      return new Deny(POD_MISMATCH, where + " is terminating or finished");
    }
    Duration lifetime = lifetime(request.maxExpirationSeconds());
    if (lifetime.compareTo(dev.kubemtls.signer.internal.CertificateAuthority.POD_CERTIFICATE_MIN_LIFETIME) < 0) {
      return new Fail(LIFETIME_TOO_SHORT, "this signer's --max-ttl is " + validity.maxTtl() + ", below the one hour"
          + " the API server requires of a pod certificate; set --max-ttl to 1h or more to serve pod certificates");
    }
    String spiffeId;
    try {
      spiffeId = SpiffeId.forServiceAccount(trustDomain, request.namespace(), pod.serviceAccount()).toString();
    } catch (IllegalArgumentException e) {
      // The API server admits only valid names; a decision must not throw whatever it is given.
      return new Deny(PodCertificateKeys.MALFORMED_REQUEST, "spec.serviceAccountName '"
          + Bounded.clip(request.serviceAccountName(), Bounded.ITEM_CHARS) + "' makes no valid SPIFFE ID");
    }
    Set<String> dns = new LinkedHashSet<>();
    for (ClusterView.ServiceInfo service : cluster.services(request.namespace())) {
      if (service.selects(pod.labels())) {
        dns.addAll(ServiceNames.of(service.name(), request.namespace(), clusterDomain, bareServiceNames));
      }
    }
    Set<String> ips = new LinkedHashSet<>();
    if (!pod.hostNetwork()) {
      for (String ip : pod.podIps()) {
        ipLiteral(ip).ifPresent(ips::add);
      }
    }
    Issue issue = new Issue(key, List.of(spiffeId), List.copyOf(dns), List.copyOf(ips), lifetime);
    if (issue.names().size() > maxNames) {
      return new Deny(TOO_MANY_NAMES, where + " owns " + issue.names().size() + " names (its SPIFFE ID, the DNS names"
          + " of the Services that select it, its IPs); at most " + maxNames + " are issued (--max-names)");
    }
    return issue;
  }

  /** {@code maxExpirationSeconds} (86400 when absent) capped at {@code --max-ttl}, in whole seconds. */
  Duration lifetime(Integer maxExpirationSeconds) {
    long requested = maxExpirationSeconds == null ? 86_400 : Math.max(0, maxExpirationSeconds);
    long cap = validity.maxTtl().getSeconds();
    return Duration.ofSeconds(Math.min(requested, cap));
  }

  private static Optional<String> ipLiteral(String literal) {
    if (literal == null || literal.isEmpty() || !literal.matches("[0-9.]+|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*")) {
      return Optional.empty();
    }
    try {
      return Optional.of(java.net.InetAddress.getByName(literal).getHostAddress());
    } catch (java.net.UnknownHostException e) {
      return Optional.empty();
    }
  }
}
