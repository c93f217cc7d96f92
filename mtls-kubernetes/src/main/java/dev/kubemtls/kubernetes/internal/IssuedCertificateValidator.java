package dev.kubemtls.kubernetes.internal;

import dev.kubemtls.core.names.Usages;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Checks the certificate chain a signer wrote into {@code status.certificate} before it is used.
 * The field is written by whoever holds {@code update} on the status subresource, so it is
 * untrusted input: every check failure raises {@link CertificateFailedException} with reason
 * {@value #REASON} and a message naming the mismatch, and nothing partial is returned.
 */
public final class IssuedCertificateValidator {

  /** The reason of every {@link CertificateFailedException} raised here. */
  public static final String REASON = "InvalidCertificate";

  private static final String EKU_SERVER = "1.3.6.1.5.5.7.3.1";
  private static final String EKU_CLIENT = "1.3.6.1.5.5.7.3.2";
  private static final int SAN_DNS = 2;
  private static final int SAN_URI = 6;
  private static final int SAN_IP = 7;
  private static final int KEY_USAGE_DIGITAL_SIGNATURE = 0;
  private static final Pattern IP_LITERAL = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*");

  private final WorkloadIdentity identity;
  private final PublicKey publicKey;
  private final TrustBundle trust;
  private final Duration clockSkew;

  /**
   * @param identity  what was requested
   * @param publicKey the public half of the key the CSR was signed with
   * @param trust     the CAs the chain must verify to, or null to skip chain verification
   * @param clockSkew how far in the future notBefore may lie and still be accepted
   */
  public IssuedCertificateValidator(WorkloadIdentity identity, PublicKey publicKey, TrustBundle trust,
      Duration clockSkew) {
    this.identity = Objects.requireNonNull(identity, "identity");
    this.publicKey = Objects.requireNonNull(publicKey, "publicKey");
    this.trust = trust;
    this.clockSkew = Objects.requireNonNull(clockSkew, "clockSkew");
  }

  /**
   * Parses and checks {@code pem}, the decoded {@code status.certificate}.
   *
   * @return the chain, leaf first
   * @throws CertificateFailedException (reason {@value #REASON}) naming the first problem
   */
  public List<X509Certificate> validate(String csrName, String pem, Instant now) {
    Objects.requireNonNull(csrName, "csrName");
    Objects.requireNonNull(now, "now");
    List<X509Certificate> chain;
    try {
      chain = Pem.certificates(pem, "status.certificate of CertificateSigningRequest " + csrName);
    } catch (InvalidMaterialException e) {
      throw fail(csrName, e.getMessage(), e);
    }
    X509Certificate leaf = chain.get(0);
    String leafName = "the leaf certificate (subject '" + leaf.getSubjectX500Principal().getName()
        + "', serial " + leaf.getSerialNumber().toString(16) + ")";
    if (!Arrays.equals(leaf.getPublicKey().getEncoded(), publicKey.getEncoded())) {
      throw fail(csrName, leafName + " is for a different public key than the one this request was signed with");
    }
    if (leaf.getBasicConstraints() >= 0) {
      throw fail(csrName, leafName + " is a CA certificate; a workload certificate must not be");
    }
    checkValidity(csrName, leafName, leaf, now);
    checkUsages(csrName, leafName, leaf);
    checkNames(csrName, leafName, leaf);
    if (trust != null) {
      checkChain(csrName, leafName, chain, now);
    }
    return chain;
  }

  private void checkValidity(String csrName, String leafName, X509Certificate leaf, Instant now) {
    Instant notBefore = leaf.getNotBefore().toInstant();
    Instant notAfter = leaf.getNotAfter().toInstant();
    if (notBefore.isAfter(now.plus(clockSkew))) {
      throw fail(csrName, leafName + " is not valid yet: notBefore " + notBefore + " is after now (" + now
          + ") plus the allowed clock skew of " + clockSkew);
    }
    if (!notAfter.isAfter(now)) {
      throw fail(csrName, leafName + " has expired: notAfter " + notAfter + " is not after now (" + now + ")");
    }
  }

  private void checkUsages(String csrName, String leafName, X509Certificate leaf) {
    Role role = identity.role();
    List<String> ekus;
    try {
      ekus = leaf.getExtendedKeyUsage();
    } catch (CertificateParsingException e) {
      throw fail(csrName, leafName + " has a malformed extendedKeyUsage extension", e);
    }
    List<String> missing = new ArrayList<>();
    if (role.server() && (ekus == null || !ekus.contains(EKU_SERVER))) {
      missing.add(Usages.SERVER_AUTH);
    }
    if (role.client() && (ekus == null || !ekus.contains(EKU_CLIENT))) {
      missing.add(Usages.CLIENT_AUTH);
    }
    if (!missing.isEmpty()) {
      throw fail(csrName, leafName + " lacks the extended key usage " + String.join(" and ", missing)
          + " needed for role " + role);
    }
    boolean[] keyUsage = leaf.getKeyUsage();
    if (keyUsage != null && (keyUsage.length <= KEY_USAGE_DIGITAL_SIGNATURE || !keyUsage[KEY_USAGE_DIGITAL_SIGNATURE])) {
      throw fail(csrName, leafName + " has a keyUsage extension without digital signature");
    }
  }

  private void checkNames(String csrName, String leafName, X509Certificate leaf) {
    Collection<List<?>> sans;
    try {
      sans = leaf.getSubjectAlternativeNames();
    } catch (CertificateParsingException e) {
      throw fail(csrName, leafName + " has a malformed subjectAltName extension", e);
    }
    Set<String> dns = new HashSet<>();
    Set<InetAddress> ips = new HashSet<>();
    Set<String> uris = new LinkedHashSet<>();
    if (sans != null) {
      for (List<?> san : sans) {
        if (san.size() < 2 || !(san.get(0) instanceof Integer type) || !(san.get(1) instanceof String value)) {
          continue;
        }
        switch (type) {
          case SAN_DNS -> dns.add(value.toLowerCase(java.util.Locale.ROOT));
          case SAN_IP -> ips.add(ipLiteral(csrName, leafName, value));
          case SAN_URI -> uris.add(value);
          default -> { }
        }
      }
    }
    for (String name : identity.dnsNames()) {
      if (!dns.contains(name)) {
        throw fail(csrName, leafName + " lacks the requested DNS name " + name);
      }
    }
    for (InetAddress ip : identity.ipAddresses()) {
      if (!ips.contains(ip)) {
        throw fail(csrName, leafName + " lacks the requested IP address " + ip.getHostAddress());
      }
    }
    String spiffe = identity.spiffeId().toString();
    if (!uris.contains(spiffe)) {
      throw fail(csrName, leafName + " lacks the requested URI " + spiffe);
    }
    if (uris.size() > 1) {
      throw fail(csrName, leafName + " carries more than one URI identity " + uris
          + "; a workload certificate must carry exactly " + spiffe);
    }
  }

  private void checkChain(String csrName, String leafName, List<X509Certificate> chain, Instant now) {
    try {
      Set<TrustAnchor> anchors = new HashSet<>();
      for (X509Certificate ca : trust.certificates()) {
        anchors.add(new TrustAnchor(ca, null));
      }
      // A chain may end in the root itself; the path given to PKIX must not include the anchor.
      List<X509Certificate> path = new ArrayList<>(chain);
      while (path.size() > 1 && trust.certificates().contains(path.get(path.size() - 1))) {
        path.remove(path.size() - 1);
      }
      CertPath certPath = CertificateFactory.getInstance("X.509").generateCertPath(path);
      PKIXParameters params = new PKIXParameters(anchors);
      params.setRevocationEnabled(false);
      // A leaf accepted within the clock skew is checked at its notBefore, not rejected by PKIX.
      Instant notBefore = chain.get(0).getNotBefore().toInstant();
      params.setDate(Date.from(notBefore.isAfter(now) ? notBefore : now));
      CertPathValidator.getInstance("PKIX").validate(certPath, params);
    } catch (CertPathValidatorException e) {
      throw fail(csrName, leafName + " does not chain to the trust bundle " + trust.sourceVersion()
          + ": " + e.getMessage(), e);
    } catch (GeneralSecurityException e) {
      throw fail(csrName, leafName + " could not be verified against the trust bundle "
          + trust.sourceVersion() + ": " + e.getMessage(), e);
    }
  }

  private static InetAddress ipLiteral(String csrName, String leafName, String value) {
    // The JDK renders a 4- or 16-byte IP SAN as a literal, but an 8- or 32-byte one (an address with
    // a mask, which belongs in name constraints) as "address/mask": no address, and InetAddress
    // would look it up as a host name. Only literals reach InetAddress, so no name is ever resolved.
    if (!IP_LITERAL.matcher(value).matches()) {
      throw fail(csrName, leafName + " has an IP address SAN that is no address: '" + value + "'");
    }
    try {
      return InetAddress.getByName(value);
    } catch (UnknownHostException e) {
      throw fail(csrName, leafName + " has an IP address SAN that is no address: '" + value + "'", e);
    }
  }

  private static CertificateFailedException fail(String csrName, String message) {
    return new CertificateFailedException(csrName, REASON, message);
  }

  private static CertificateFailedException fail(String csrName, String message, Throwable cause) {
    return new CertificateFailedException(csrName, REASON, message, cause);
  }
}
