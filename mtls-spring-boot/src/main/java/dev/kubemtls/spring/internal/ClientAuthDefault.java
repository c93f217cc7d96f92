package dev.kubemtls.spring.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.web.server.AbstractConfigurableWebServerFactory;
import org.springframework.boot.web.server.Ssl;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;

/**
 * Makes client certificates required on a server that serves the kube-mtls bundle, unless
 * {@code server.ssl.client-auth} says otherwise. Runs after Spring Boot's own customizer, which
 * copies {@code server.ssl.*} onto the factory.
 */
public final class ClientAuthDefault
    implements WebServerFactoryCustomizer<AbstractConfigurableWebServerFactory>, Ordered {

  private static final Logger LOG = LoggerFactory.getLogger(ClientAuthDefault.class);

  private final String bundle;

  public ClientAuthDefault(String bundle) {
    this.bundle = bundle;
  }

  @Override
  public void customize(AbstractConfigurableWebServerFactory factory) {
    Ssl ssl = factory.getSsl();
    if (ssl == null || !Ssl.isEnabled(ssl) || !bundle.equals(ssl.getBundle())) {
      return;
    }
    if (ssl.getClientAuth() == null) {
      ssl.setClientAuth(Ssl.ClientAuth.NEED);
    } else if (ssl.getClientAuth() != Ssl.ClientAuth.NEED) {
      LOG.warn("server.ssl.client-auth is {}: clients without a certificate can connect; only the"
          + " kube-mtls filter stands between them and the application", ssl.getClientAuth());
    }
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE - 10;
  }
}
