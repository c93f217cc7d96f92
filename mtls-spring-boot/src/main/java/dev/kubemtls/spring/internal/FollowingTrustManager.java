package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.peer.PeerPolicy;
import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.LoggerFactory;

/**
 * A trust manager that checks each peer chain against the trust bundle of the snapshot current at
 * that moment, with the kube-mtls trust manager every integration uses (the PKIX check, refusals
 * explained in a rate-limited log line); the peer's identity is left to the application (any
 * caller or server whose chain the bundle trusts is accepted), as with the servers' per-request
 * filter. One trust manager per bundle. Endpoint identification (the host name check of clients)
 * is the JDK's, as the engine or socket asks.
 */
public final class FollowingTrustManager extends X509ExtendedTrustManager {

  private record Cached(TrustBundle bundle, X509ExtendedTrustManager manager) {}

  private final MaterialSource source;
  private final RateLimitedLog log =
      new RateLimitedLog(LoggerFactory.getLogger(FollowingTrustManager.class), System::nanoTime);
  private volatile Cached cached;

  public FollowingTrustManager(MaterialSource source) {
    this.source = Objects.requireNonNull(source, "source");
  }

  private X509ExtendedTrustManager current() throws CertificateException {
    Optional<MtlsMaterial> material = source.currentIfReady();
    if (material.isEmpty()) {
      throw new CertificateException("kube-mtls has no trust bundle yet: the first certificate has not arrived");
    }
    TrustBundle bundle = material.get().trust();
    Cached c = cached;
    if (c == null || c.bundle() != bundle) {
      c = new Cached(bundle, new MtlsTrustManager(bundle, "bundle", PeerPolicy.allowAll(), log));
      cached = c;
    }
    return c.manager();
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
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    current().checkClientTrusted(chain, authType, socket);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
    current().checkServerTrusted(chain, authType, socket);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
    current().checkClientTrusted(chain, authType, engine);
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
    current().checkServerTrusted(chain, authType, engine);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return source.currentIfReady().map(m -> m.trust().certificates().toArray(X509Certificate[]::new))
        .orElse(new X509Certificate[0]);
  }
}
