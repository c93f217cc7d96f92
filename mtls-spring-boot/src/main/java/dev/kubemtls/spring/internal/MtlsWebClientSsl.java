package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.SslContext;
import java.util.Objects;
import java.util.function.Consumer;
import org.springframework.boot.http.client.HttpClientSettings;
import org.springframework.boot.http.client.reactive.ClientHttpConnectorBuilder;
import org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder;
import org.springframework.boot.ssl.NoSuchSslBundleException;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.boot.webclient.autoconfigure.WebClientSsl;
import org.springframework.web.reactive.function.client.WebClient;

/**
 * The {@link WebClientSsl} of an application with the starter. For the kube-mtls bundle on Reactor
 * Netty (WebFlux's default connector), the WebClient's connections take their TLS from the kube-mtls
 * JDK engine ({@link MtlsJdkTls}): each new connection presents the current certificate, checks the
 * server against the current trust bundle and the name it dialled, and applies the whole
 * {@link TlsPolicy}, signature schemes and groups included, and reports its handshake to the
 * application's {@link TlsListener}s. Spring Boot would build that connector's TLS from the bundle's
 * key and trust managers, with the policy's protocols and suites only. HTTP/1.1 (no ALPN).
 *
 * <p>Any other bundle, or another connector (the JDK's takes the bundle's kube-mtls context
 * already), is set up as Spring Boot does: the connector builder with the bundle in its settings.
 */
public final class MtlsWebClientSsl implements WebClientSsl {

  private final ClientHttpConnectorBuilder<?> connectors;
  private final HttpClientSettings settings;
  private final SslBundles bundles;
  private final MaterialSource source;
  private final TlsPolicy policy;
  private final TlsListener listener;
  private volatile SslContext context;

  public MtlsWebClientSsl(ClientHttpConnectorBuilder<?> connectors, HttpClientSettings settings, SslBundles bundles,
      MaterialSource source, TlsPolicy policy, TlsListener listener) {
    this.connectors = Objects.requireNonNull(connectors, "connectors");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.bundles = Objects.requireNonNull(bundles, "bundles");
    this.source = Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public Consumer<WebClient.Builder> fromBundle(String bundleName) throws NoSuchSslBundleException {
    return fromBundle(bundles.getBundle(bundleName));
  }

  @Override
  public Consumer<WebClient.Builder> fromBundle(SslBundle bundle) {
    if (SnapshotSslBundles.isKubeMtls(bundle) && connectors instanceof ReactorClientHttpConnectorBuilder reactor) {
      SslContext tls = context();
      // Runs after Spring Boot's own TLS set up from the bundle, which it replaces.
      return builder -> builder.clientConnector(reactor.withHttpClientCustomizer(
          client -> client.secure(spec -> spec.sslContext(tls))).build(settings.withSslBundle(bundle)));
    }
    return builder -> builder.clientConnector(connectors.build(settings.withSslBundle(bundle)));
  }

  /** One Netty context over the kube-mtls JDK client context, for every WebClient of the bundle. */
  private SslContext context() {
    SslContext c = context;
    if (c == null) {
      synchronized (this) {
        c = context;
        if (c == null) {
          // Any server whose chain the bundle trusts, as with the bundle's managers; the name it
          // dialled is checked (HTTPS endpoint identification).
          MtlsJdkTls tls = MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(PeerPolicy.allowAll())
              .listener(listener).build();
          @SuppressWarnings("deprecation")
          SslContext made = new JdkSslContext(tls.sslContext(), true, policy.cipherSuites(),
              IdentityCipherSuiteFilter.INSTANCE, ApplicationProtocolConfig.DISABLED,
              io.netty.handler.ssl.ClientAuth.NONE, policy.protocols().toArray(String[]::new), false);
          c = made;
          context = c;
        }
      }
    }
    return c;
  }
}
