package dev.kubemtls.core.internal;

import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import javax.crypto.KeyAgreement;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link TlsPolicy} in the JDK's terms: {@link SSLParameters} for whole engines, and the
 * {@link PolicyConstraints} alone for engines whose other parameters someone else (Netty, Jetty)
 * already set. One instance per policy; engines share its constraints.
 *
 * <p><b>A client's key shares.</b> SunJSSE's TLS 1.3 client computes a key share for its most
 * preferred X25519/X448 group and another for its most preferred NIST group, on every handshake,
 * though the server uses one. Where the NIST groups' ECDH is native and X25519's is Java (the
 * {@code NativeCrypto} provider, which has no X25519), the X25519 share is a Java point
 * multiplication per handshake, a quarter of a client's handshake CPU, and a server that prefers
 * X25519 (Go, BoringSSL) then picks it and costs the client a second one. So in that case clients
 * leave X25519 and X448 out of their offer, as long as the policy names a NIST group that the JVM
 * has enabled: every TLS 1.3 implementation must support P-256 (RFC 8446, section 9.1). The policy
 * still decides what is allowed; a client offers a subset of it. A server that accepts only X25519
 * then refuses such a client: the system property {@value #OFFER_XDH_PROPERTY}{@code =true} keeps
 * the X25519 share. Servers are unchanged (they answer the share a client sent). A client engine so
 * refused says so ({@link #explainingRefusals}).
 */
public final class JdkTls {

  /** Set to {@code true} to keep X25519 and X448 in a client's offer when native crypto is on. */
  public static final String OFFER_XDH_PROPERTY = "kube-mtls.tls.client-offers-x25519";
  private static final Set<String> XDH_GROUPS = Set.of("x25519", "x448");
  private static final Logger LOG = LoggerFactory.getLogger(JdkTls.class);
  private final TlsPolicy policy;
  private final PolicyConstraints constraints;
  private final PolicyConstraints clientConstraints;
  private final Set<String> clientWithholds;
  private final AtomicBoolean refusalLogged = new AtomicBoolean();

  public JdkTls(TlsPolicy policy) {
    this(policy, withheldByClients(policy, nativeEcdhJavaXdh(), Boolean.getBoolean(OFFER_XDH_PROPERTY),
        System.getProperty("jdk.tls.namedGroups")));
  }

  JdkTls(TlsPolicy policy, Set<String> clientWithholds) {
    this.policy = Objects.requireNonNull(policy, "policy");
    this.constraints = new PolicyConstraints(policy);
    this.clientConstraints = clientWithholds.isEmpty() ? constraints : new PolicyConstraints(policy, clientWithholds);
    this.clientWithholds = Set.copyOf(clientWithholds);
  }

  /** The groups this policy's clients leave out of their offer; empty in most JVMs. */
  public Set<String> clientWithholds() {
    return clientWithholds;
  }

  /**
   * The listener for engines of this policy: {@code listener} itself (null for none) when clients
   * withhold nothing. Otherwise one that, when a client's handshake ends with the server's
   * {@code handshake_failure} alert (what OpenSSL, BoringSSL and Go send when they share no group with
   * the client), adds a suppressed exception to that failure, which the caller
   * then sees in its stack trace, naming the withheld groups and {@value #OFFER_XDH_PROPERTY}, logs
   * the same once per policy at WARN, and passes the failure on to {@code listener}. The alert does
   * not say why the server refused (no shared group, no shared suite, ...), so the note says "if".
   */
  public TlsListener explainingRefusals(TlsListener listener) {
    if (clientWithholds.isEmpty()) {
      return listener;
    }
    TlsListener note = new TlsListener() {
      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        if (side == Side.CLIENT && HandshakeFailures.receivedAlert(cause, "handshake_failure")) {
          String text = refusalNote();
          cause.addSuppressed(new SSLException(text));
          if (refusalLogged.compareAndSet(false, true)) {
            LOG.warn("{} ({}; said once)", text, cause.getMessage());
          }
        }
      }
    };
    // The note first, so that the caller's listener already sees it on the failure.
    return listener == null ? note : TlsListener.all(note, listener);
  }

  /** What a client refused with handshake_failure is told. */
  String refusalNote() {
    return "kube-mtls: the server refused this client's handshake. With native crypto on, kube-mtls' JDK"
        + " clients leave " + String.join(" and ", clientWithholds.stream().sorted().toList())
        + " out of their offer (this JVM's ECDH is native, its X25519 is not); if the server accepts only those"
        + " groups, start the JVM with -D" + OFFER_XDH_PROPERTY + "=true";
  }

  /**
   * The groups clients leave out of their offer (see the class comment): the policy's X25519 and
   * X448 when {@code nativeEcdhJavaXdh}, unless {@code keepXdh} or the policy (or the JVM's
   * {@code jdk.tls.namedGroups}, {@code enabledGroups}, null when unset) leaves no NIST group.
   */
  static Set<String> withheldByClients(TlsPolicy policy, boolean nativeEcdhJavaXdh, boolean keepXdh,
      String enabledGroups) {
    if (!nativeEcdhJavaXdh || keepXdh) {
      return Set.of();
    }
    Set<String> enabled = enabledGroups == null ? null : Arrays.stream(enabledGroups.split(","))
        .map(g -> g.replace("\"", "").trim().toLowerCase(Locale.ROOT)).collect(Collectors.toSet());
    boolean nistLeft = policy.namedGroups().stream()
        .anyMatch(g -> g.startsWith("secp") && (enabled == null || enabled.contains(g)));
    if (!nistLeft) {
      return Set.of();
    }
    return policy.namedGroups().stream().filter(XDH_GROUPS::contains).collect(Collectors.toUnmodifiableSet());
  }

  /** Whether this JVM's preferred ECDH is not SunEC's Java code while its X25519 is. */
  static boolean nativeEcdhJavaXdh() {
    try {
      String ecdh = KeyAgreement.getInstance("ECDH").getProvider().getName();
      String xdh = KeyAgreement.getInstance("X25519").getProvider().getName();
      return "SunEC".equals(xdh) && !"SunEC".equals(ecdh);
    } catch (java.security.NoSuchAlgorithmException e) {
      return false;
    }
  }

  public TlsPolicy policy() {
    return policy;
  }

  /** The constraints of a server engine (and of an engine whose role is not known yet). */
  public PolicyConstraints constraints() {
    return constraints;
  }

  /** The constraints of an engine in the given role. */
  public PolicyConstraints constraints(boolean client) {
    return client ? clientConstraints : constraints;
  }

  /**
   * Gives {@code engine}, now in client mode and before its ClientHello, the client constraints if
   * they differ from those it was made with ({@link #constraints()}).
   */
  public void restrictClient(SSLEngine engine) {
    if (clientConstraints != constraints && engine.getUseClientMode()) {
      SSLParameters p = engine.getSSLParameters();
      if (p.getAlgorithmConstraints() == constraints) {
        p.setAlgorithmConstraints(clientConstraints);
        engine.setSSLParameters(p);
      }
    }
  }

  /**
   * Fresh parameters with the policy's protocols, suites (in order, the server's preference wins),
   * signature schemes and groups; a client also gets HTTPS endpoint identification, a server the
   * policy's client-certificate demand.
   */
  public SSLParameters parameters(boolean client) {
    SSLParameters p = new SSLParameters(policy.cipherSuites().toArray(String[]::new),
        policy.protocols().toArray(String[]::new));
    p.setUseCipherSuitesOrder(true);
    p.setAlgorithmConstraints(constraints(client));
    if (client) {
      p.setEndpointIdentificationAlgorithm("HTTPS");
    } else if (policy.clientAuth() == ClientAuth.REQUIRE) {
      p.setNeedClientAuth(true);
    } else {
      p.setWantClientAuth(true);
    }
    return p;
  }

  /**
   * Adds the policy's signature schemes and groups to an engine configured otherwise, in the role
   * the engine is in now.
   */
  public void restrict(SSLEngine engine) {
    SSLParameters p = engine.getSSLParameters();
    p.setAlgorithmConstraints(constraints(engine.getUseClientMode()));
    engine.setSSLParameters(p);
  }

  /** Adds the policy's signature schemes and groups, for the given role, to {@code parameters}. */
  public SSLParameters restrict(SSLParameters parameters, boolean client) {
    parameters.setAlgorithmConstraints(constraints(client));
    return parameters;
  }
}
