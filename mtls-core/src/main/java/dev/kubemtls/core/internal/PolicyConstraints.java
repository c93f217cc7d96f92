package dev.kubemtls.core.internal;

import dev.kubemtls.core.tls.TlsPolicy;
import java.security.AlgorithmConstraints;
import java.security.AlgorithmParameters;
import java.security.CryptoPrimitive;
import java.security.Key;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The signature schemes and named groups of a {@link TlsPolicy} as JDK {@link AlgorithmConstraints},
 * the one place where Java 17's SunJSSE lets a single engine restrict both ({@code SSLParameters}
 * gets setters for them only in later Java versions). SunJSSE asks its constraints about each
 * signature scheme and group by its TLS name; this refuses the names the policy leaves out and
 * permits everything else (cipher and key names, certificate algorithms), so the JDK's own
 * {@code jdk.tls.disabledAlgorithms} still applies on top. Built once per policy and shared.
 *
 * <p>SunJSSE asks the same few dozen names many times per handshake (every signature scheme for the
 * CertificateRequest, the signature_algorithms and supported_groups lists, the key share), so each
 * answer is remembered by name: a map lookup instead of two regular expressions. Names the JDK
 * makes up from a peer's certificate (an unknown signature OID) could be many, so at most
 * {@value #REMEMBERED} names are remembered and the rest are judged each time.
 */
public final class PolicyConstraints implements AlgorithmConstraints {

  private static final Pattern SCHEME = Pattern.compile(
      "(ecdsa|rsa|dsa)_[a-z0-9_]*(sha1|sha224|sha256|sha384|sha512|md5)|ed25519|ed448");
  private static final Pattern GROUP = Pattern.compile(
      "x25519|x448|ffdhe[0-9]+|sec[pt][0-9]+[rk][0-9]|brainpool[a-z0-9]+|arbitrary_explicit_[a-z0-9_]+");
  static final int REMEMBERED = 256;

  private final Set<String> schemes;
  private final Set<String> groups;
  private final Map<String, Boolean> answers = new ConcurrentHashMap<>();

  public PolicyConstraints(TlsPolicy policy) {
    this(policy, Set.of());
  }

  /**
   * As {@link #PolicyConstraints(TlsPolicy)}, also refusing the policy's groups in {@code withheld}
   * (a client that should not offer them; see {@link JdkTls}).
   */
  PolicyConstraints(TlsPolicy policy, Set<String> withheld) {
    this.schemes = Set.copyOf(policy.signatureSchemes());
    this.groups = policy.namedGroups().stream().filter(g -> !withheld.contains(g))
        .collect(java.util.stream.Collectors.toUnmodifiableSet());
  }

  /** How many answers are remembered now. */
  int remembered() {
    return answers.size();
  }

  /** The groups this permits, of those its policy names. */
  Set<String> groups() {
    return groups;
  }

  @Override
  public boolean permits(Set<CryptoPrimitive> primitives, String algorithm, AlgorithmParameters parameters) {
    if (algorithm == null) {
      return true;
    }
    Boolean known = answers.get(algorithm);
    if (known != null) {
      return known;
    }
    boolean answer = judge(algorithm);
    if (answers.size() < REMEMBERED) {
      answers.put(algorithm, answer);
    }
    return answer;
  }

  private boolean judge(String algorithm) {
    String name = algorithm.toLowerCase(Locale.ROOT);
    if (SCHEME.matcher(name).matches()) {
      return schemes.contains(name);
    }
    if (GROUP.matcher(name).matches()) {
      return groups.contains(name);
    }
    return true;
  }

  @Override
  public boolean permits(Set<CryptoPrimitive> primitives, Key key) {
    return true;
  }

  @Override
  public boolean permits(Set<CryptoPrimitive> primitives, String algorithm, Key key,
      AlgorithmParameters parameters) {
    return permits(primitives, algorithm, parameters);
  }

  @Override
  public String toString() {
    return "PolicyConstraints[schemes=" + schemes + ", groups=" + groups + "]";
  }
}
