package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.servlet.JettyMtls;
import dev.kubemtls.servlet.JettyServerTls;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.boot.jetty.servlet.JettyServletWebServerFactory;
import org.springframework.boot.web.server.Ssl;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;

/**
 * Spring Boot's Jetty server builds its TLS connector from the bundle once and never reloads it.
 * This customizer replaces that connector, same host and port and HTTP settings, by one from
 * {@link JettyMtls} whose TLS context follows the source: each new connection gets the current
 * snapshot's certificate and trust. HTTP/1.1 only (the replaced connector's HTTP/2 is dropped).
 */
public final class JettyReload
    implements WebServerFactoryCustomizer<JettyServletWebServerFactory>, Ordered, DisposableBean {

  private static final Logger LOG = LoggerFactory.getLogger(JettyReload.class);

  private final MaterialSource source;
  private final TlsPolicy policy;
  private final String bundle;
  private final TlsListener listener;
  private final List<JettyServerTls> handles = new CopyOnWriteArrayList<>();

  private final java.time.Duration maxConnectionAge;

  /** {@code maxConnectionAge} null: connections are not bounded by their material. */
  public JettyReload(MaterialSource source, TlsPolicy policy, String bundle, TlsListener listener,
      java.time.Duration maxConnectionAge) {
    this.maxConnectionAge = maxConnectionAge;
    this.source = Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.bundle = Objects.requireNonNull(bundle, "bundle");
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public void customize(JettyServletWebServerFactory factory) {
    factory.addServerCustomizers(server -> {
      Ssl ssl = factory.getSsl();
      if (ssl == null || !Ssl.isEnabled(ssl) || !bundle.equals(ssl.getBundle())) {
        return;
      }
      ClientAuth clientAuth = ssl.getClientAuth() == Ssl.ClientAuth.NEED ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL;
      List<Connector> connectors = new ArrayList<>();
      for (Connector connector : server.getConnectors()) {
        if (connector instanceof ServerConnector sc && sc.getConnectionFactory(SslConnectionFactory.class) != null) {
          JettyMtls.ServerBuilder b = JettyMtls.forServer(source)
              .port(sc.getPort())
              .policy(policy.withClientAuth(clientAuth))
              // Callers are checked per request by the kube-mtls filter, which answers 403 with a reason.
              .peerPolicy(PeerPolicy.allowAll())
              .listener(listener);
          if (maxConnectionAge == null) {
            b.unboundedConnections();
          } else {
            b.maxConnectionAge(maxConnectionAge);
          }
          if (sc.getHost() != null) {
            b.host(sc.getHost());
          }
          HttpConnectionFactory http = sc.getConnectionFactory(HttpConnectionFactory.class);
          if (http != null) {
            b.httpConfiguration(http.getHttpConfiguration());
          }
          JettyServerTls handle = b.build();
          handles.add(handle);
          connectors.add(handle.newConnector(server));
          LOG.info("Jetty connector on port {} follows kube-mtls bundle '{}' (client certificates {})",
              sc.getPort(), bundle, clientAuth);
        } else {
          connectors.add(connector);
        }
      }
      server.setConnectors(connectors.toArray(Connector[]::new));
    });
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }

  @Override
  public void destroy() {
    handles.forEach(JettyServerTls::close);
  }
}
