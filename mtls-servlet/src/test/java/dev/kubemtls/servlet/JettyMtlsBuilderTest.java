package dev.kubemtls.servlet;

import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.MtlsSslContexts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import java.time.Duration;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.junit.jupiter.api.Test;

/** Input validation and the configuration the builders produce, without starting anything. */
class JettyMtlsBuilderTest {

  private final MaterialPublisher source = new MaterialPublisher();

  @Test
  void rejectsNullsWithTheirNames() {
    assertThatThrownBy(() -> JettyMtls.forServer(null)).isInstanceOf(NullPointerException.class).hasMessage("source");
    assertThatThrownBy(() -> JettyMtls.forClient(null)).isInstanceOf(NullPointerException.class).hasMessage("source");
    assertThatThrownBy(() -> JettyMtls.forServer(source).host(null)).hasMessage("host");
    assertThatThrownBy(() -> JettyMtls.forServer(source).policy(null)).hasMessage("policy");
    assertThatThrownBy(() -> JettyMtls.forServer(source).peerPolicy(null)).hasMessage("peerPolicy");
    assertThatThrownBy(() -> JettyMtls.forClient(source).peerPolicy(null)).hasMessage("peerPolicy");
    assertThatThrownBy(() -> JettyMtls.forServer(source).idleTimeout(null)).hasMessage("idleTimeout");
    assertThatThrownBy(() -> JettyMtls.forServer(source).httpConfiguration(null)).hasMessage("httpConfiguration");
    assertThatThrownBy(() -> JettyMtls.forServer(source).newConnector(null)).hasMessage("server");
    assertThatThrownBy(() -> JettyMtls.forClient(source).connectTimeout(null)).hasMessage("connectTimeout");
    assertThatThrownBy(() -> MtlsPeerFilter.builder().policy(null)).hasMessage("policy");
    assertThatThrownBy(() -> MtlsSslContexts.of(null)).hasMessage("material");
  }

  @Test
  void rejectsOutOfRangeValues() {
    assertThatThrownBy(() -> JettyMtls.forServer(source).port(-1))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("port must be between 0 and 65535, was -1");
    assertThatThrownBy(() -> JettyMtls.forServer(source).port(65536))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> JettyMtls.forServer(source).host(" "))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("host must not be blank");
    assertThatThrownBy(() -> JettyMtls.forServer(source).idleTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("idleTimeout must be positive, was PT0S");
    assertThatThrownBy(() -> JettyMtls.forClient(source).idleTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("idleTimeout must be positive, was PT-1S");
  }

  @Test
  void serverConnectorRequiresClientCertificatesAndSkipsSniChecks() {
    HttpConfiguration given = new HttpConfiguration();
    given.addCustomizer(new SecureRequestCustomizer(true, true, -1, false));
    ServerConnector connector = JettyMtls.forServer(source).host("127.0.0.1").port(0)
        .httpConfiguration(given).newConnector(new Server());

    SslContextFactory.Server ssl = connector.getConnectionFactory(SslConnectionFactory.class).getSslContextFactory();
    assertThat(ssl.getNeedClientAuth()).isTrue();
    assertThat(ssl.isSniRequired()).isFalse();
    assertThat(ssl.getIncludeProtocols()).containsExactly("TLSv1.3", "TLSv1.2");
    assertThat(ssl.getIncludeCipherSuites()).allMatch(c -> c.startsWith("TLS_AES_") || c.startsWith("TLS_CHACHA20")
        || c.startsWith("TLS_ECDHE_") && (c.contains("_GCM_") || c.contains("CHACHA20")));
    SecureRequestCustomizer secure = connector.getConnectionFactory(
        org.eclipse.jetty.server.HttpConnectionFactory.class).getHttpConfiguration()
        .getCustomizer(SecureRequestCustomizer.class);
    assertThat(secure.isSniHostCheck()).isFalse();
    assertThat(secure.isSniRequired()).isFalse();
    // The caller's configuration is copied, not changed.
    assertThat(given.getCustomizer(SecureRequestCustomizer.class).isSniHostCheck()).isTrue();
  }

  @Test
  void optionalClientAuthAsksForButDoesNotRequireACertificate() {
    SslContextFactory.Server ssl = JettyMtls.forServer(source).policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)).newSslContextFactory();
    assertThat(ssl.getNeedClientAuth()).isFalse();
    assertThat(ssl.getWantClientAuth()).isTrue();
  }

  @Test
  void clientVerifiesTheServerName() {
    SslContextFactory.Client ssl = JettyMtls.forClient(source).newSslContextFactory();
    assertThat(ssl.getEndpointIdentificationAlgorithm()).isEqualTo("HTTPS");
    assertThat(ssl.isTrustAll()).isFalse();
  }
}
