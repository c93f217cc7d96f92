package dev.kubemtls.bench.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The other known design, for comparison: one long-lived SSL context whose key manager and trust
 * manager read the current snapshot on every handshake (the approach of java-spiffe and
 * sslcontext-kickstart). Key and chain come from one snapshot through a versioned alias.
 */
final class SwappingManagers {

  private SwappingManagers() {}

  static final class KeyManager extends X509ExtendedKeyManager {
    private final MaterialSource source;

    KeyManager(MaterialSource source) {
      this.source = source;
    }

    private MtlsMaterial forAlias(String alias) {
      MtlsMaterial m = source.current();
      return alias != null && alias.equals(m.identity().alias()) ? m : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
      return source.current().identity().alias();
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return source.current().identity().alias();
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
      return source.current().identity().alias();
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return source.current().identity().alias();
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return new String[] {source.current().identity().alias()};
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return new String[] {source.current().identity().alias()};
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      MtlsMaterial m = forAlias(alias);
      return m == null ? null : m.identity().chain().toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      MtlsMaterial m = forAlias(alias);
      return m == null ? null : m.identity().privateKey();
    }
  }

  /** Delegates to a trust manager per bundle, built once per bundle. */
  static final class TrustManager extends X509ExtendedTrustManager {
    private final MaterialSource source;
    private final Map<TrustBundle, X509ExtendedTrustManager> perBundle = new ConcurrentHashMap<>();

    TrustManager(MaterialSource source) {
      this.source = source;
    }

    private X509ExtendedTrustManager current() {
      return perBundle.computeIfAbsent(source.current().trust(),
          b -> (X509ExtendedTrustManager) b.trustManager());
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      current().checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      current().checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      current().checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      current().checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      current().checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      current().checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return current().getAcceptedIssuers();
    }
  }
}
