package dev.kubemtls.core.peer;

import dev.kubemtls.core.InvalidMaterialException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Who is on the other end of an mTLS connection, as read from the peer's verified leaf certificate.
 *
 * <p>A kube-mtls certificate names its workload by a SPIFFE-style URI
 * {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}, plus the DNS names and IP
 * addresses it may be reached at. Only read a {@code PeerIdentity} from a certificate the TLS stack
 * has already verified against the trust bundle: this class parses, it does not verify.
 *
 * @param spiffeId    the URI SAN if it is a well-formed SPIFFE ID, else empty
 * @param dnsNames    the DNS SANs, in certificate order
 * @param ipAddresses the IP SANs in their textual form, in certificate order
 * @param subject     the subject distinguished name (RFC 2253)
 */
public record PeerIdentity(
    Optional<String> spiffeId, List<String> dnsNames, List<String> ipAddresses, String subject) {

  private static final int SAN_DNS = 2;
  private static final int SAN_URI = 6;
  private static final int SAN_IP = 7;

  public PeerIdentity {
    Objects.requireNonNull(spiffeId, "spiffeId");
    dnsNames = List.copyOf(dnsNames);
    ipAddresses = List.copyOf(ipAddresses);
    Objects.requireNonNull(subject, "subject");
  }

  /**
   * Reads the identity of a peer certificate.
   *
   * @throws InvalidMaterialException if the certificate's SAN extension cannot be parsed, or it
   *     holds more than one URI SAN (a workload has exactly one identity)
   */
  public static PeerIdentity of(X509Certificate certificate) {
    Objects.requireNonNull(certificate, "certificate");
    Collection<List<?>> sans;
    try {
      sans = certificate.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      throw new InvalidMaterialException(
          "the peer certificate's subjectAltName extension is malformed", e);
    }
    List<String> dns = new ArrayList<>();
    List<String> ips = new ArrayList<>();
    List<String> uris = new ArrayList<>();
    if (sans != null) {
      for (List<?> san : sans) {
        if (san.size() < 2 || !(san.get(0) instanceof Integer type) || !(san.get(1) instanceof String value)) {
          continue;
        }
        switch (type) {
          case SAN_DNS -> dns.add(value);
          case SAN_IP -> ips.add(value);
          case SAN_URI -> uris.add(value);
          default -> { }
        }
      }
    }
    if (uris.size() > 1) {
      throw new InvalidMaterialException("the peer certificate names " + uris.size()
          + " URI identities " + uris + "; a workload certificate must carry exactly one");
    }
    Optional<String> spiffe = uris.stream().filter(SpiffeId::isValid).findFirst();
    return new PeerIdentity(spiffe, dns, ips, certificate.getSubjectX500Principal().getName());
  }

  /** The trust domain of the SPIFFE ID, e.g. {@code cluster.local}. */
  public Optional<String> trustDomain() {
    return spiffeId.map(id -> SpiffeId.parse(id).trustDomain());
  }

  /** The Kubernetes namespace named by the SPIFFE ID. */
  public Optional<String> namespace() {
    return spiffeId.flatMap(id -> SpiffeId.parse(id).namespace());
  }

  /** The ServiceAccount named by the SPIFFE ID. */
  public Optional<String> serviceAccount() {
    return spiffeId.flatMap(id -> SpiffeId.parse(id).serviceAccount());
  }

  /** A short form for logs: the SPIFFE ID, or the subject when there is none. */
  public String displayName() {
    return spiffeId.orElse(subject);
  }
}
