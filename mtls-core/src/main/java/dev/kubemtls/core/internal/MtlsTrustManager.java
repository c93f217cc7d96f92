package dev.kubemtls.core.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.PeerCertificateException.Rejection;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import java.net.Socket;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertPathValidatorException.BasicReason;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.PKIXReason;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The trust manager of every kube-mtls TLS context: the JDK's PKIX check against one
 * {@link TrustBundle}, then, where the integration enforces it in the handshake, a
 * {@link PeerPolicy}. A refusal is explained once: one rate-limited WARN line per cause that names
 * the peer's subject, serial and issuer, the reason and what to check, and a
 * {@link PeerCertificateException} whose shape lets each TLS stack send the matching alert.
 *
 * <p>One instance per material snapshot; the {@link RateLimitedLog} is shared by all snapshots of
 * one server or client, so rotations do not reset the rate limit. An integration may also share a
 * {@link VerifiedChains} across its snapshots: a chain that passed the PKIX check under the same
 * CAs is then not validated again while it is inside its validity window (checked against that
 * cache's clock on every handshake, before and after the PKIX check), and the leaf's identity is
 * read once.
 */
public final class MtlsTrustManager extends X509ExtendedTrustManager {

  private final X509ExtendedTrustManager pkix;
  private final TrustBundle bundle;
  private final String side;
  private final PeerPolicy policy;
  private final RateLimitedLog log;
  private final VerifiedChains chains;
  private final VerifiedChains.Scope verified;

  /**
   * @param bundle the CAs to trust
   * @param side   {@code server} or {@code client}, for log lines
   * @param policy applied to a verified peer in the handshake, or null where the integration applies
   *               it after the handshake
   * @param log    where refusals are explained
   */
  public MtlsTrustManager(TrustBundle bundle, String side, PeerPolicy policy, RateLimitedLog log) {
    this(bundle, side, policy, log, null);
  }

  /**
   * A trust manager that remembers verified chains in {@code chains} (shared by the snapshots of one
   * server or client). Only for integrations whose engines a cache key describes completely: a server
   * engine without endpoint identification, a client engine whose name check is for
   * {@link SSLEngine#getPeerHost()} (SNI, if any, set from that host). Socket-based checks are never
   * cached.
   *
   * @param chains where verified chains are remembered, or null for a full check every time
   */
  public MtlsTrustManager(TrustBundle bundle, String side, PeerPolicy policy, RateLimitedLog log,
      VerifiedChains chains) {
    this.bundle = Objects.requireNonNull(bundle, "bundle");
    this.pkix = (X509ExtendedTrustManager) bundle.trustManager();
    this.side = Objects.requireNonNull(side, "side");
    this.policy = policy;
    this.log = Objects.requireNonNull(log, "log");
    this.chains = chains;
    this.verified = chains == null ? null : chains.scope(bundle);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    check(chain, "client", address(socket), null, () -> pkix.checkClientTrusted(chain, authType, socket));
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    check(chain, "client", address(engine), key(chain, authType, null),
        () -> pkix.checkClientTrusted(chain, authType, engine));
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    check(chain, "client", null, key(chain, authType, null), () -> pkix.checkClientTrusted(chain, authType));
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    check(chain, "server", address(socket), null, () -> pkix.checkServerTrusted(chain, authType, socket));
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    check(chain, "server", address(engine),
        key(chain, authType, engine == null ? null : engine.getPeerHost()),
        () -> pkix.checkServerTrusted(chain, authType, engine));
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    check(chain, "server", null, key(chain, authType, null), () -> pkix.checkServerTrusted(chain, authType));
  }

  /** One PKIX check of the JDK's trust manager. */
  @FunctionalInterface
  private interface PkixCheck {
    void run() throws CertificateException;
  }

  /** The cache key of a check, or null when nothing is cached. */
  private VerifiedChains.Key key(X509Certificate[] chain, String authType, String host) {
    return verified == null ? null : verified.key(chain, authType, host);
  }

  /**
   * PKIX against the bundle (a refusal explained and logged), unless this exact chain passed it
   * under the same CAs and is inside its validity window now; then the peer policy.
   */
  private void check(X509Certificate[] chain, String peerRole, String address, VerifiedChains.Key key,
      PkixCheck pkixCheck) throws CertificateException {
    if (key == null || !verified.verified(key)) {
      try {
        pkixCheck.run();
        if (verified != null) {
          // The cache's clock decides validity on a hit; it must agree on a full check too.
          Date now = Date.from(chains.clock().instant());
          for (X509Certificate c : chain) {
            c.checkValidity(now);
          }
        }
      } catch (CertificateException e) {
        throw refuse(chain, e, peerRole, address);
      }
      if (key != null) {
        verified.remember(key, chain);
      }
    }
    applyPolicy(chain, peerRole, address);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return pkix.getAcceptedIssuers();
  }

  private void applyPolicy(X509Certificate[] chain, String peerRole, String address)
      throws PeerCertificateException {
    if (policy == null) {
      return;
    }
    Optional<String> denial;
    PeerIdentity peer = null;
    try {
      peer = chains == null ? PeerIdentity.of(chain[0]) : chains.identity(chain[0]);
      denial = policy.denialReason(peer);
    } catch (InvalidMaterialException e) {
      denial = Optional.of("its certificate cannot be read: " + e.getMessage());
    }
    if (denial.isPresent()) {
      String line = line(peerRole, chain, address, "is not allowed by " + policy + ": " + denial.get(),
          "check the allow-list of this " + side + " and the SPIFFE ID the peer's certificate carries");
      log.warn(Rejection.NOT_ALLOWED, line);
      throw new PeerCertificateException(Rejection.NOT_ALLOWED, line, null, peer);
    }
  }

  private PeerCertificateException refuse(X509Certificate[] chain, CertificateException e,
      String peerRole, String address) {
    Rejection rejection = classify(chain, e);
    X509Certificate leaf = chain == null || chain.length == 0 ? null : chain[0];
    if (rejection == Rejection.UNKNOWN_CA && leaf != null && namesTrustedIssuer(leaf)) {
      // No path because the signature does not verify under the CA of that name.
      rejection = Rejection.BAD_CERTIFICATE;
    }
    String reason;
    String check;
    switch (rejection) {
      case EXPIRED -> {
        reason = "has expired" + (leaf == null ? "" : " (notAfter " + leaf.getNotAfter().toInstant() + ")");
        check = "check that the peer renews its certificate (its certificate manager and the signer)"
            + " and that both clocks are right";
      }
      case NOT_YET_VALID -> {
        reason = "is not valid yet" + (leaf == null ? "" : " (notBefore " + leaf.getNotBefore().toInstant() + ")");
        check = "check the clocks of both machines";
      }
      case HOSTNAME_MISMATCH -> {
        reason = "does not name the address that was dialled (" + e.getMessage() + ")";
        check = "dial a DNS name or IP address the server's certificate carries, or issue it with that name";
      }
      case UNKNOWN_CA -> {
        reason = (leaf != null && leaf.getSubjectX500Principal().equals(leaf.getIssuerX500Principal())
            ? "is self-signed" : "was issued by a CA that is not in the trust bundle")
            + " (" + bundle.sourceVersion() + ")";
        check = "check that the peer's certificate comes from this cluster's signer and that both sides"
            + " trust the same bundle";
      }
      default -> {
        reason = (leaf != null && namesTrustedIssuer(leaf)
            ? "names a trusted CA (" + leaf.getIssuerX500Principal().getName() + ") as its issuer, but"
                + " its signature does not verify under that CA's key"
            : "does not verify against the trust bundle: " + e.getMessage())
            + " (" + bundle.sourceVersion() + ")";
        check = "a signature that does not verify means a certificate from another CA with the same"
            + " name, or a forged one; check where the peer's certificate comes from";
      }
    }
    String line = line(peerRole, chain, address, reason, check);
    log.warn(rejection, line);
    return new PeerCertificateException(rejection, line, alertShape(rejection, line, e));
  }

  /**
   * The cause a JDK client reads to choose its alert: a validator exception with the matching
   * reason, holding the original failure.
   */
  private static Throwable alertShape(Rejection rejection, String message, CertificateException e) {
    BasicReason reason = switch (rejection) {
      case EXPIRED -> BasicReason.EXPIRED;
      case NOT_YET_VALID -> BasicReason.NOT_YET_VALID;
      case BAD_CERTIFICATE -> BasicReason.INVALID_SIGNATURE;
      default -> null;
    };
    return reason == null ? e : new CertPathValidatorException(message, e, null, -1, reason);
  }

  private boolean namesTrustedIssuer(X509Certificate leaf) {
    for (X509Certificate ca : bundle.certificates()) {
      if (ca.getSubjectX500Principal().equals(leaf.getIssuerX500Principal())) {
        return true;
      }
    }
    return false;
  }

  /** The cause of a PKIX failure. */
  static Rejection classify(X509Certificate[] chain, Throwable failure) {
    int depth = 0;
    Rejection found = null;
    for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof CertificateExpiredException) {
        return Rejection.EXPIRED;
      }
      if (t instanceof CertificateNotYetValidException) {
        return Rejection.NOT_YET_VALID;
      }
      if (HandshakeFailures.isHostnameMismatch(t)) {
        return Rejection.HOSTNAME_MISMATCH;
      }
      if (t instanceof CertPathValidatorException v) {
        if (v.getReason() == BasicReason.EXPIRED) {
          return Rejection.EXPIRED;
        }
        if (v.getReason() == BasicReason.NOT_YET_VALID) {
          return Rejection.NOT_YET_VALID;
        }
        if (v.getReason() == PKIXReason.NO_TRUST_ANCHOR) {
          found = Rejection.UNKNOWN_CA;
        } else if (found == null) {
          found = Rejection.BAD_CERTIFICATE;
        }
      }
      if (t instanceof CertPathBuilderException && found == null) {
        found = Rejection.UNKNOWN_CA;
      }
    }
    return found == null ? Rejection.BAD_CERTIFICATE : found;
  }

  private String line(String peerRole, X509Certificate[] chain, String address, String reason,
      String check) {
    StringBuilder sb = new StringBuilder("kube-mtls ").append(side).append(": refused the ")
        .append(peerRole).append(" certificate");
    if (chain != null && chain.length > 0) {
      X509Certificate leaf = chain[0];
      sb.append(" of ").append(leaf.getSubjectX500Principal().getName())
          .append(" (serial ").append(leaf.getSerialNumber().toString(16))
          .append(", issuer ").append(leaf.getIssuerX500Principal().getName()).append(')');
    }
    if (address != null) {
      sb.append(" from ").append(address);
    }
    return sb.append(": it ").append(reason).append("; ").append(check).toString();
  }

  private static String address(SSLEngine engine) {
    return engine == null || engine.getPeerHost() == null ? null
        : engine.getPeerHost() + (engine.getPeerPort() > 0 ? ":" + engine.getPeerPort() : "");
  }

  private static String address(Socket socket) {
    return socket == null || socket.getRemoteSocketAddress() == null ? null
        : socket.getRemoteSocketAddress().toString();
  }
}
