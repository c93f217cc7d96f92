package dev.kubemtls.core.tls;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * What every kube-mtls endpoint negotiates: protocol versions, cipher suites, signature schemes,
 * key-exchange groups and, on servers, whether a client certificate is required. One immutable
 * value that the Netty and Jetty integrations and the JDK {@link MtlsSslContexts} all read, so a
 * server and a client built from the same policy cannot disagree.
 *
 * <p>{@link #defaults()} is the policy of every builder that is not given another one:
 * <ul>
 *   <li><b>protocols</b> TLS 1.3, then TLS 1.2 as the minimum;</li>
 *   <li><b>cipher suites</b>, in preference order: the TLS 1.3 suites AES-128-GCM, AES-256-GCM,
 *       ChaCha20-Poly1305, then for TLS 1.2 only ECDHE with the same AEAD ciphers, ECDSA before RSA.
 *       AES-128 comes first because the default keys (EC P-256) and groups (X25519, P-256) give a
 *       128-bit security level that AES-256 cannot raise, and AES-128 is the faster of the two on
 *       processors with AES instructions, where pods run; ChaCha20 serves peers without them;</li>
 *   <li><b>signature schemes</b> ECDSA with P-256/SHA-256 and P-384/SHA-384, Ed25519, RSA-PSS and
 *       RSA PKCS#1 with SHA-256, -384 and -512: nothing with SHA-1 or MD5;</li>
 *   <li><b>named groups</b> X25519, P-256, P-384;</li>
 *   <li><b>client auth</b> {@link ClientAuth#REQUIRE}.</li>
 * </ul>
 *
 * <p>Override it with {@link #toBuilder()} or {@link #builder()}; {@link Builder#build()} refuses
 * names it does not know, anything weaker than the floor above (TLS 1.1 and older, CBC, static RSA
 * or DHE suites, SHA-1 and MD5 signatures, finite-field groups), and combinations that cannot
 * complete a handshake (a protocol without a suite for it). The JDK provider applies every field.
 * BoringSSL (the Netty OpenSSL provider) applies protocols, TLS 1.2 suites and groups, always
 * enables its TLS 1.3 suites (the same three), and signs and verifies with its built-in signature
 * lists. Its TLS 1.2 signing list ends with SHA-1, which it would use for a client that offers
 * nothing else; netty-tcnative 2.0.84 can restrict it only on a credential that Netty 4.2.20 does
 * not use for the key, so a kube-mtls BoringSSL server offers its certificate only to a client that
 * accepts a signature without SHA-1 or MD5, and refuses the others (alert {@code internal_error}):
 * no server signs with SHA-1.
 */
public final class TlsPolicy {

  /** TLS 1.3. */
  public static final String TLS_1_3 = "TLSv1.3";
  /** TLS 1.2, the oldest version kube-mtls speaks. */
  public static final String TLS_1_2 = "TLSv1.2";

  private static final List<String> TLS13_SUITES = List.of(
      "TLS_AES_128_GCM_SHA256",
      "TLS_AES_256_GCM_SHA384",
      "TLS_CHACHA20_POLY1305_SHA256");

  private static final List<String> TLS12_SUITES = List.of(
      "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

  private static final List<String> DEFAULT_SIGNATURE_SCHEMES = List.of(
      "ecdsa_secp256r1_sha256",
      "ecdsa_secp384r1_sha384",
      "ed25519",
      "rsa_pss_rsae_sha256",
      "rsa_pss_rsae_sha384",
      "rsa_pss_rsae_sha512",
      "rsa_pkcs1_sha256",
      "rsa_pkcs1_sha384",
      "rsa_pkcs1_sha512");

  /** Signature schemes a policy may name beyond the defaults. */
  private static final Set<String> MORE_SIGNATURE_SCHEMES = Set.of(
      "ecdsa_secp521r1_sha512", "ed448", "rsa_pss_pss_sha256", "rsa_pss_pss_sha384",
      "rsa_pss_pss_sha512");

  private static final List<String> DEFAULT_GROUPS = List.of("x25519", "secp256r1", "secp384r1");

  /** Groups a policy may name beyond the defaults. */
  private static final Set<String> MORE_GROUPS = Set.of("x448", "secp521r1");

  private static final TlsPolicy DEFAULTS = new TlsPolicy(List.of(TLS_1_3, TLS_1_2),
      concat(TLS13_SUITES, TLS12_SUITES), DEFAULT_SIGNATURE_SCHEMES, DEFAULT_GROUPS, ClientAuth.REQUIRE);

  private final List<String> protocols;
  private final List<String> cipherSuites;
  private final List<String> signatureSchemes;
  private final List<String> namedGroups;
  private final ClientAuth clientAuth;

  private TlsPolicy(List<String> protocols, List<String> cipherSuites, List<String> signatureSchemes,
      List<String> namedGroups, ClientAuth clientAuth) {
    this.protocols = List.copyOf(protocols);
    this.cipherSuites = List.copyOf(cipherSuites);
    this.signatureSchemes = List.copyOf(signatureSchemes);
    this.namedGroups = List.copyOf(namedGroups);
    this.clientAuth = clientAuth;
  }

  /** The policy every integration uses unless it is given another one (see the class comment). */
  public static TlsPolicy defaults() {
    return DEFAULTS;
  }

  /** A builder that starts from {@link #defaults()}. */
  public static Builder builder() {
    return DEFAULTS.toBuilder();
  }

  /** A builder that starts from this policy. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** Protocol versions, newest first: a subset of {@value #TLS_1_3} and {@value #TLS_1_2}. */
  public List<String> protocols() {
    return protocols;
  }

  /** Cipher suites (IANA names, as the JDK spells them), most preferred first. */
  public List<String> cipherSuites() {
    return cipherSuites;
  }

  /** Signature schemes (TLS names as in RFC 8446, e.g. {@code ecdsa_secp256r1_sha256}), most preferred first. */
  public List<String> signatureSchemes() {
    return signatureSchemes;
  }

  /** Key-exchange groups (TLS names, e.g. {@code x25519}, {@code secp256r1}), most preferred first. */
  public List<String> namedGroups() {
    return namedGroups;
  }

  /** Whether servers require a client certificate; clients ignore it. */
  public ClientAuth clientAuth() {
    return clientAuth;
  }

  /** A copy of this policy with another client-certificate demand. */
  public TlsPolicy withClientAuth(ClientAuth clientAuth) {
    return toBuilder().clientAuth(clientAuth).build();
  }

  /** Whether {@code suite} is a TLS 1.3 suite (as opposed to a TLS 1.2 one). */
  public static boolean isTls13Suite(String suite) {
    return TLS13_SUITES.contains(suite);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TlsPolicy p && protocols.equals(p.protocols) && cipherSuites.equals(p.cipherSuites)
        && signatureSchemes.equals(p.signatureSchemes) && namedGroups.equals(p.namedGroups)
        && clientAuth == p.clientAuth;
  }

  @Override
  public int hashCode() {
    return Objects.hash(protocols, cipherSuites, signatureSchemes, namedGroups, clientAuth);
  }

  @Override
  public String toString() {
    return "TlsPolicy[protocols=" + protocols + ", cipherSuites=" + cipherSuites
        + ", signatureSchemes=" + signatureSchemes + ", namedGroups=" + namedGroups
        + ", clientAuth=" + clientAuth + "]";
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  /**
   * Changes to a policy; not thread-safe. Each setter replaces its whole list (order is
   * preference); {@link #build()} validates.
   */
  public static final class Builder {
    private List<String> protocols;
    private List<String> cipherSuites;
    private List<String> signatureSchemes;
    private List<String> namedGroups;
    private ClientAuth clientAuth;

    private Builder(TlsPolicy from) {
      this.protocols = from.protocols;
      this.cipherSuites = from.cipherSuites;
      this.signatureSchemes = from.signatureSchemes;
      this.namedGroups = from.namedGroups;
      this.clientAuth = from.clientAuth;
    }

    /** Protocol versions: {@value TlsPolicy#TLS_1_3}, {@value TlsPolicy#TLS_1_2} or both. */
    public Builder protocols(String... protocols) {
      this.protocols = copy("protocols", protocols);
      return this;
    }

    /** Cipher suites in preference order. */
    public Builder cipherSuites(String... suites) {
      this.cipherSuites = copy("cipherSuites", suites);
      return this;
    }

    /** Signature schemes in preference order. */
    public Builder signatureSchemes(String... schemes) {
      this.signatureSchemes = lower(copy("signatureSchemes", schemes));
      return this;
    }

    /** Key-exchange groups in preference order. */
    public Builder namedGroups(String... groups) {
      this.namedGroups = lower(copy("namedGroups", groups));
      return this;
    }

    /** Whether servers require a client certificate; {@link ClientAuth#REQUIRE} by default. */
    public Builder clientAuth(ClientAuth clientAuth) {
      this.clientAuth = Objects.requireNonNull(clientAuth, "clientAuth");
      return this;
    }

    /**
     * The policy.
     *
     * @throws IllegalArgumentException naming the first entry that is unknown, below the floor,
     *     listed twice, or that leaves a protocol without a cipher suite
     */
    public TlsPolicy build() {
      for (String p : protocols) {
        if (!p.equals(TLS_1_3) && !p.equals(TLS_1_2)) {
          throw new IllegalArgumentException("protocol '" + p + "' is not allowed: kube-mtls speaks "
              + TLS_1_3 + " and " + TLS_1_2 + " only");
        }
      }
      for (String s : cipherSuites) {
        if (!TLS13_SUITES.contains(s) && !TLS12_SUITES.contains(s)) {
          throw new IllegalArgumentException("cipher suite '" + s + "' is not allowed: use TLS 1.3"
              + " suites " + TLS13_SUITES + " or ECDHE with an AEAD cipher for TLS 1.2 " + TLS12_SUITES);
        }
      }
      if (protocols.contains(TLS_1_3) && cipherSuites.stream().noneMatch(TLS13_SUITES::contains)) {
        throw new IllegalArgumentException(TLS_1_3 + " is enabled but no TLS 1.3 cipher suite is: add"
            + " one of " + TLS13_SUITES + " or drop the protocol");
      }
      if (protocols.contains(TLS_1_2) && cipherSuites.stream().noneMatch(TLS12_SUITES::contains)) {
        throw new IllegalArgumentException(TLS_1_2 + " is enabled but no TLS 1.2 cipher suite is: add"
            + " one of " + TLS12_SUITES + " or drop the protocol");
      }
      for (String s : signatureSchemes) {
        if (s.contains("sha1") || s.contains("md5") || s.contains("sha224") || s.startsWith("dsa")) {
          throw new IllegalArgumentException("signature scheme '" + s + "' is too weak: SHA-1, SHA-224,"
              + " MD5 and DSA are not allowed");
        }
        if (!DEFAULT_SIGNATURE_SCHEMES.contains(s) && !MORE_SIGNATURE_SCHEMES.contains(s)) {
          throw new IllegalArgumentException("signature scheme '" + s + "' is unknown; use TLS names"
              + " such as " + DEFAULT_SIGNATURE_SCHEMES);
        }
      }
      for (String g : namedGroups) {
        if (g.startsWith("ffdhe")) {
          throw new IllegalArgumentException("named group '" + g + "' is not allowed: finite-field"
              + " groups serve DHE suites, which kube-mtls does not offer");
        }
        if (!DEFAULT_GROUPS.contains(g) && !MORE_GROUPS.contains(g)) {
          throw new IllegalArgumentException("named group '" + g + "' is unknown; use one of "
              + DEFAULT_GROUPS + " or " + MORE_GROUPS);
        }
      }
      return new TlsPolicy(protocols, cipherSuites, signatureSchemes, namedGroups, clientAuth);
    }

    private static List<String> copy(String what, String... values) {
      Objects.requireNonNull(values, what);
      if (values.length == 0) {
        throw new IllegalArgumentException(what + " must name at least one entry");
      }
      LinkedHashSet<String> seen = new LinkedHashSet<>();
      for (String v : values) {
        Objects.requireNonNull(v, what + " entry");
        if (!seen.add(v)) {
          throw new IllegalArgumentException(what + " lists '" + v + "' twice");
        }
      }
      return List.copyOf(seen);
    }

    private static List<String> lower(List<String> values) {
      return values.stream().map(v -> v.toLowerCase(Locale.ROOT)).toList();
    }
  }
}
