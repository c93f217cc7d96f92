package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocketFactory;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.TrustManager;
import org.apache.catalina.connector.Connector;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.tomcat.util.net.SSLContext;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SSLHostConfigCertificate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.tomcat.ConfigurableTomcatWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;

/**
 * Tomcat serves the kube-mtls bundle with {@link ServerTls}: its connector gets one TLS host
 * configuration whose context is the kube-mtls one, so each new connection takes the current
 * snapshot under the {@link TlsPolicy} (signature schemes and groups included) and the kube-mtls
 * trust manager. Tomcat never rebuilds it: nothing needs reloading when the bundle changes.
 * Kept-alive connections are bounded by their material per request ({@link TomcatConnectionBound}).
 */
public final class TomcatFollowing implements WebServerFactoryCustomizer<ConfigurableTomcatWebServerFactory>, Ordered {

  private static final Logger LOG = LoggerFactory.getLogger(TomcatFollowing.class);

  private final MaterialSource source;
  private final TlsPolicy policy;
  private final String bundle;
  private final java.time.Duration maxConnectionAge;
  private final dev.kubemtls.core.tls.TlsListener listener;

  /**
   * {@code listener} is told of each handshake; {@code maxConnectionAge} null: connections are not
   * bounded ({@link TomcatConnectionBound}).
   */
  public TomcatFollowing(MaterialSource source, TlsPolicy policy, String bundle, java.time.Duration maxConnectionAge,
      dev.kubemtls.core.tls.TlsListener listener) {
    this.source = Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.bundle = Objects.requireNonNull(bundle, "bundle");
    this.maxConnectionAge = maxConnectionAge;
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public void customize(ConfigurableTomcatWebServerFactory factory) {
    ServerTls tls = ServerTls.takeOver(factory, bundle, source, policy, listener);
    if (tls != null) {
      factory.addConnectorCustomizers(connector -> configure(connector, tls));
      if (maxConnectionAge != null) {
        factory.addEngineValves(new TomcatConnectionBound(source, maxConnectionAge, java.time.InstantSource.system()));
      }
    }
  }

  private void configure(Connector connector, ServerTls tls) {
    if (!(connector.getProtocolHandler() instanceof AbstractHttp11Protocol<?> protocol)) {
      throw new IllegalStateException("kube-mtls: Tomcat's connector protocol "
          + connector.getProtocolHandler().getClass().getName() + " is not an HTTP/1.1 protocol that can serve TLS");
    }
    TlsPolicy applied = tls.policy();
    protocol.setSSLEnabled(true);
    SSLHostConfig host = new SSLHostConfig();
    host.setHostName(protocol.getDefaultSSLHostConfigName());
    host.setCertificateVerification(applied.clientAuth() == ClientAuth.REQUIRE ? "required" : "optional");
    host.setProtocols(String.join(",", applied.protocols()));
    List<String> tls12 = applied.cipherSuites().stream().filter(s -> !TlsPolicy.isTls13Suite(s)).toList();
    List<String> tls13 = applied.cipherSuites().stream().filter(TlsPolicy::isTls13Suite).toList();
    if (!tls12.isEmpty()) {
      host.setCiphers(String.join(":", tls12));
    }
    if (!tls13.isEmpty()) {
      host.setCipherSuites(String.join(":", tls13));
    }
    host.setHonorCipherOrder(true);
    SSLHostConfigCertificate certificate = new SSLHostConfigCertificate(host, SSLHostConfigCertificate.Type.UNDEFINED);
    certificate.setSslContext(new FollowingContext(tls.context(), source));
    host.addCertificate(certificate);
    protocol.addSslHostConfig(host, true);
    connector.setScheme("https");
    connector.setSecure(true);
    LOG.info("Tomcat connector on port {} serves kube-mtls bundle '{}' (client certificates {})",
        connector.getPort(), bundle, applied.clientAuth());
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }

  /** Tomcat's view of the kube-mtls JDK context; it is already initialized and lives with the source. */
  private record FollowingContext(javax.net.ssl.SSLContext context, MaterialSource source) implements SSLContext {

    @Override
    public void init(KeyManager[] kms, TrustManager[] tms, SecureRandom sr) {
      // initialized when made
    }

    @Override
    public void destroy() {
      // shared by every SSL host configuration Tomcat makes from it; it follows the source until collected
    }

    @Override
    public SSLSessionContext getServerSessionContext() {
      return context.getServerSessionContext();
    }

    @Override
    public SSLEngine createSSLEngine() {
      return context.createSSLEngine();
    }

    @Override
    public SSLServerSocketFactory getServerSocketFactory() {
      return context.getServerSocketFactory();
    }

    @Override
    public SSLParameters getSupportedSSLParameters() {
      return context.getSupportedSSLParameters();
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return source.currentIfReady().map(m -> m.identity().chain().toArray(X509Certificate[]::new)).orElse(null);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return source.currentIfReady().map(MtlsMaterial::trust)
          .map(t -> t.certificates().toArray(X509Certificate[]::new)).orElse(new X509Certificate[0]);
    }
  }
}
