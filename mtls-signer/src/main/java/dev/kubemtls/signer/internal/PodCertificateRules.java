package dev.kubemtls.signer.internal;

import dev.kubemtls.core.peer.SpiffeId;
import dev.kubemtls.signer.ClusterView;
import dev.kubemtls.signer.ValidityPolicy;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * Decides what a PodCertificateRequest gets: a pure function of the request's spec, the signer's
 * limits and a {@link ClusterView} of the Pod and the Services of its namespace.
 *
 * <p>What the API server already checked when the node created the request (and is not checked
 * again): the requester is the node named in {@code spec.nodeName} (Node authorizer and
 * NodeRestriction), the node, Pod and ServiceAccount exist with the UIDs in the spec, the Pod is
 * bound to that node and runs as that ServiceAccount, the Pod is not a mirror Pod, the key parses
 * and the proof of possession (a signature over the Pod UID) verifies, the key is Ed25519, EC P-256,
 * P-384 or P-521, or RSA 3072 or 4096, and {@code maxExpirationSeconds} is 3600 to 7,862,400 (91
 * days). See {@code plugin/pkg/admission/noderestriction} and
 * {@code pkg/apis/certificates/validation} in Kubernetes 1.35.
 *
 * <p>What this adds, in this order: {@code unverifiedUserAnnotations} are refused (this signer
 * defines none), the key must meet the same rules as a CSR's ({@link RequestRules#keyProblem}: EC
 * P-256 or P-384, RSA 2048 to 8192 bits, so Ed25519 and P-521 are refused), the Pod must still
 * exist with the UID and ServiceAccount of the request and not be terminating (a Pod's
 * {@code spec.nodeName} cannot change once set, so the same UID is the same node), and the lifetime is
 * {@code maxExpirationSeconds} capped by the signer's {@code --max-ttl}, which must allow the API
 * server's minimum of one hour. The names follow the strict CSR ownership rule (in both policy modes): the SPIFFE ID of the Pod's
 * ServiceAccount, the four DNS forms of every Service in the namespace whose selector matches the
 * Pod's labels, and the Pod's IPs when it has any (a Pod whose volumes are being set up usually has
 * none yet, so its first certificate names none); at most {@code maxNames} in all.
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
      POD_MISMATCH, TOO_MANY_NAMES);
  /** The reasons of {@code Failed} this signer writes on PodCertificateRequests. */
  public static final List<String> FAILURE_REASONS = List.of(LIFETIME_TOO_SHORT, "CaExpired", "CaExpiresTooSoon",
      "SigningError", "IssuedStatusRejected");

  private static final String KEY_HINT = "; set the podCertificate volume's keyType to ECDSAP256 (recommended),"
      + " ECDSAP384, RSA3072 or RSA4096";

  /** The facts of one request's spec that the decision uses. */
  public record Request(String namespace, String podName, String podUid, String serviceAccountName,
      byte[] pkixPublicKey, Integer maxExpirationSeconds, Map<String, String> unverifiedUserAnnotations) {
    public Request {
      Objects.requireNonNull(namespace, "namespace");
      podName = podName == null ? "" : podName;
      podUid = podUid == null ? "" : podUid;
      serviceAccountName = serviceAccountName == null ? "" : serviceAccountName;
      pkixPublicKey = pkixPublicKey == null ? new byte[0] : pkixPublicKey.clone();
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

  /**
   * @param trustDomain   the SPIFFE trust domain of issued IDs
   * @param clusterDomain the cluster DNS domain of Service names
   * @param validity      the signer's lifetime limits ({@code --max-ttl} caps the lifetime)
   * @param maxNames      the most SANs one certificate holds
   */
  public PodCertificateRules(String trustDomain, String clusterDomain, ValidityPolicy validity, int maxNames) {
    this.trustDomain = Objects.requireNonNull(trustDomain, "trustDomain");
    this.clusterDomain = Objects.requireNonNull(clusterDomain, "clusterDomain");
    this.validity = Objects.requireNonNull(validity, "validity");
    this.maxNames = maxNames;
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
    PublicKey key;
    SubjectPublicKeyInfo spki;
    try {
      spki = SubjectPublicKeyInfo.getInstance(request.pkixPublicKey());
      key = decode(spki, request.pkixPublicKey());
    } catch (RuntimeException e) {
      return new Deny(UNSUPPORTED_KEY_TYPE, "spec.pkixPublicKey is not a PKIX public key this signer can read" + KEY_HINT);
    }
    Optional<RequestRules.Violation> keyProblem = RequestRules.keyProblem(spki, key);
    if (keyProblem.isPresent() || key == null) {
      String detail = keyProblem.map(RequestRules.Violation::message).orElse("the key does not decode");
      int cut = detail.indexOf("; use ");
      return new Deny(UNSUPPORTED_KEY_TYPE, (cut < 0 ? detail : detail.substring(0, cut)) + KEY_HINT);
    }
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
    if (lifetime.compareTo(dev.kubemtls.signer.CertificateAuthority.POD_CERTIFICATE_MIN_LIFETIME) < 0) {
      return new Fail(LIFETIME_TOO_SHORT, "this signer's --max-ttl is " + validity.maxTtl() + ", below the one hour"
          + " the API server requires of a pod certificate; set --max-ttl to 1h or more to serve pod certificates");
    }
    String spiffeId = SpiffeId.forServiceAccount(trustDomain, request.namespace(), pod.serviceAccount()).toString();
    Set<String> dns = new LinkedHashSet<>();
    for (ClusterView.ServiceInfo service : cluster.services(request.namespace())) {
      if (service.selects(pod.labels())) {
        String s = service.name();
        dns.add(s);
        dns.add(s + "." + request.namespace());
        dns.add(s + "." + request.namespace() + ".svc");
        dns.add(s + "." + request.namespace() + ".svc." + clusterDomain);
      }
    }
    Set<String> ips = new LinkedHashSet<>();
    for (String ip : pod.podIps()) {
      ipLiteral(ip).ifPresent(ips::add);
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

  private static PublicKey decode(SubjectPublicKeyInfo spki, byte[] der) {
    String algorithm;
    if (spki.getAlgorithm().getAlgorithm().equals(X9ObjectIdentifiers.id_ecPublicKey)) {
      algorithm = "EC";
    } else if (spki.getAlgorithm().getAlgorithm().equals(PKCSObjectIdentifiers.rsaEncryption)) {
      algorithm = "RSA";
    } else {
      // Judged by RequestRules on its algorithm identifier alone.
      return null;
    }
    try {
      return KeyFactory.getInstance(algorithm).generatePublic(new X509EncodedKeySpec(der));
    } catch (GeneralSecurityException e) {
      return null;
    }
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
