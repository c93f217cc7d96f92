package dev.kubemtls.core.internal;

import dev.kubemtls.core.TlsIdentity;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Objects;
import javax.net.ssl.ExtendedSSLSession;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * The server key manager of one identity for TLS stacks that sign with their own built-in list of
 * signature algorithms (BoringSSL through netty-tcnative): it offers the identity only to a client
 * that accepts a signature without SHA-1 or MD5 for this key, so a TLS 1.2 client that offers only
 * {@code ecdsa_sha1} or {@code rsa_pkcs1_sha1} (or no {@code signature_algorithms} extension at all,
 * which means SHA-1) gets no certificate and a failed handshake instead of a SHA-1 signature.
 *
 * <p>Why here: BoringSSL's signing preferences can be set per {@code SSL_CREDENTIAL}, and
 * netty-tcnative 2.0.84 exposes that ({@code SSLCredential.setSigningAlgorithmPrefs}), but Netty
 * 4.2.20 also installs the key through its certificate callback as the connection's legacy
 * credential, which BoringSSL tries last with its default list (SHA-1 included for TLS 1.2), and that
 * callback fails the handshake when the key manager has no key. The peer's list is read from the
 * handshake session ({@link ExtendedSSLSession#getPeerSupportedSignatureAlgorithms()}), which Netty
 * fills from BoringSSL's {@code SSL_get0_peer_verify_algorithms}.
 *
 * <p>One alias per generation ({@code id-<generation>}), so a caching key-material factory encodes
 * the key once per context.
 */
public final class StrongSignatureKeyManager extends X509ExtendedKeyManager {

  private final String alias;
  private final PrivateKey key;
  private final X509Certificate[] chain;
  private final String keyType;
  private final String keyWord;
  private final RateLimitedLog log;

  /** @param log where a refused client is explained, at most once a minute */
  public StrongSignatureKeyManager(TlsIdentity identity, RateLimitedLog log) {
    Objects.requireNonNull(identity, "identity");
    this.alias = "id-" + identity.generation();
    this.key = identity.privateKey();
    this.chain = identity.chain().toArray(X509Certificate[]::new);
    this.keyType = key.getAlgorithm();
    this.keyWord = switch (keyType) {
      case "EC" -> "ecdsa";
      case "RSA" -> "rsa";
      default -> keyType.toLowerCase(Locale.ROOT);
    };
    this.log = Objects.requireNonNull(log, "log");
  }

  /**
   * Whether {@code algorithms} (the client's signature algorithms, in JDK or TLS spelling) hold one
   * for a key named {@code keyWord} ({@code ecdsa}, {@code rsa}, {@code ed25519}) without SHA-1 or
   * MD5.
   */
  static boolean acceptsStrongSignature(String[] algorithms, String keyWord) {
    if (algorithms == null) {
      return false;
    }
    for (String a : algorithms) {
      String n = a.toLowerCase(Locale.ROOT);
      if (n.contains(keyWord) && !n.contains("sha1") && !n.contains("md5")
          && !(n.contains("sha-1"))) {
        return true;
      }
    }
    return false;
  }

  private boolean matches(String type) {
    return type != null && (type.equals(keyType) || type.startsWith(keyType + "_"));
  }

  @Override
  public String chooseEngineServerAlias(String type, Principal[] issuers, SSLEngine engine) {
    if (!matches(type)) {
      return null;
    }
    SSLSession session = engine == null ? null : engine.getHandshakeSession();
    if (session instanceof ExtendedSSLSession extended) {
      String[] offered = extended.getPeerSupportedSignatureAlgorithms();
      if (!acceptsStrongSignature(offered, keyWord)) {
        String peer = engine.getPeerHost() == null ? "a client"
            : engine.getPeerHost() + (engine.getPeerPort() > 0 ? ":" + engine.getPeerPort() : "");
        log.warn(getClass(), "kube-mtls server: refused the handshake of " + peer + " ("
            + session.getProtocol() + "): it accepts no signature without SHA-1 or MD5 for our "
            + keyType + " key (it offers " + (offered == null || offered.length == 0 ? "none, which means SHA-1"
            : String.join(", ", offered)) + "); kube-mtls never signs with SHA-1");
        return null;
      }
    }
    return alias;
  }

  @Override
  public String chooseServerAlias(String type, Principal[] issuers, Socket socket) {
    return matches(type) ? alias : null;
  }

  @Override
  public String[] getServerAliases(String type, Principal[] issuers) {
    return matches(type) ? new String[] {alias} : null;
  }

  @Override
  public String[] getClientAliases(String type, Principal[] issuers) {
    return null;
  }

  @Override
  public String chooseClientAlias(String[] types, Principal[] issuers, Socket socket) {
    return null;
  }

  @Override
  public X509Certificate[] getCertificateChain(String requested) {
    return alias.equals(requested) ? chain.clone() : null;
  }

  @Override
  public PrivateKey getPrivateKey(String requested) {
    return alias.equals(requested) ? key : null;
  }
}
