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
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import org.apache.hc.client5.http.ssl.DefaultClientTlsStrategy;
import org.apache.hc.client5.http.ssl.DefaultHostnameVerifier;
import org.apache.hc.core5.http.nio.ssl.TlsStrategy;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.springframework.boot.http.client.HttpClientSettings;
import org.springframework.boot.http.client.reactive.ClientHttpConnectorBuilder;
import org.springframework.boot.http.client.reactive.HttpComponentsClientHttpConnectorBuilder;
import org.springframework.boot.http.client.reactive.JdkClientHttpConnectorBuilder;
import org.springframework.boot.http.client.reactive.JettyClientHttpConnectorBuilder;
import org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder;
import org.springframework.boot.ssl.NoSuchSslBundleException;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.boot.webclient.autoconfigure.WebClientSsl;
import org.springframework.web.reactive.function.client.WebClient;

/**
 * The {@link WebClientSsl} of an application with the starter. A WebClient built from the kube-mtls
 * bundle takes its TLS from one kube-mtls JDK client engine ({@link MtlsJdkTls}) on every connector
 * Spring Boot sets up: each new connection presents the current certificate, checks the server against
 * the current trust bundle and the name it dialled, applies the whole {@link TlsPolicy}, signature
 * schemes and groups included, and reports its handshake to the application's {@link TlsListener}s.
 * <ul>
 *   <li>Reactor Netty (WebFlux's default): a Netty {@code JdkSslContext} over the engine's context
 *       (Spring Boot would build one from the bundle's key and trust managers, with the policy's
 *       protocols and suites only). HTTP/1.1 (no ALPN).</li>
 *   <li>Jetty: a client {@code SslContextFactory} over the engine's context, with HTTPS endpoint
 *       identification and the policy's protocols, suites, signature schemes and groups.</li>
 *   <li>Apache HttpComponents (async): its TLS strategy over the engine's context, with the policy's
 *       protocols and suites and HttpClient's host name check.</li>
 *   <li>The JDK's {@code HttpClient}: the engine's context and parameters, its client engines ending
 *       a connection that outlived its material at its next reuse when the starter bounds clients (as
 *       the bundle's own context does).</li>
 * </ul>
 * Any other bundle, or a connector of the application's own, is set up as Spring Boot does: the
 * connector builder with the bundle in its settings.
 */
public final class MtlsWebClientSsl implements WebClientSsl, AutoCloseable {

  private final ClientHttpConnectorBuilder<?> connectors;
  private final HttpClientSettings settings;
  private final SslBundles bundles;
  private final MaterialSource source;
  private final TlsPolicy policy;
  private final TlsListener listener;
  private final UnaryOperator<SSLContext> bounding;
  private MtlsJdkTls tls;
  /** Reactor Netty's {@code SslContext}, once made (an Object: Netty may be absent). */
  private Object nettyContext;

  public MtlsWebClientSsl(ClientHttpConnectorBuilder<?> connectors, HttpClientSettings settings, SslBundles bundles,
      MaterialSource source, TlsPolicy policy, TlsListener listener) {
    this(connectors, settings, bundles, source, policy, listener, UnaryOperator.identity());
  }

  /**
   * @param bounding wraps the engine's context for the JDK {@code HttpClient} (the starter's client
   *     bound, {@link SnapshotSslBundles#bounding})
   */
  public MtlsWebClientSsl(ClientHttpConnectorBuilder<?> connectors, HttpClientSettings settings, SslBundles bundles,
      MaterialSource source, TlsPolicy policy, TlsListener listener, UnaryOperator<SSLContext> bounding) {
    this.connectors = Objects.requireNonNull(connectors, "connectors");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.bundles = Objects.requireNonNull(bundles, "bundles");
    this.source = Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.bounding = Objects.requireNonNull(bounding, "bounding");
  }

  @Override
  public Consumer<WebClient.Builder> fromBundle(String bundleName) throws NoSuchSslBundleException {
    return fromBundle(bundles.getBundle(bundleName));
  }

  @Override
  public Consumer<WebClient.Builder> fromBundle(SslBundle bundle) {
    HttpClientSettings withBundle = settings.withSslBundle(bundle);
    if (SnapshotSslBundles.isKubeMtls(bundle)) {
      // Each customizer runs after Spring Boot's own TLS set up from the bundle, which it replaces.
      if (connectors instanceof ReactorClientHttpConnectorBuilder reactor) {
        return ReactorTls.connector(reactor, nettyContext(), withBundle);
      }
      if (connectors instanceof JettyClientHttpConnectorBuilder jetty) {
        MtlsJdkTls engine = tls();
        return builder -> builder.clientConnector(jetty.withClientConnectorCustomizerCustomizer(
            connector -> connector.setSslContextFactory(JettyTls.factory(engine, policy))).build(withBundle));
      }
      if (connectors instanceof HttpComponentsClientHttpConnectorBuilder components) {
        MtlsJdkTls engine = tls();
        return builder -> builder.clientConnector(components.withTlsSocketStrategyFactory(
            b -> HttpComponentsTls.strategy(engine, policy)).build(withBundle));
      }
      if (connectors instanceof JdkClientHttpConnectorBuilder jdk) {
        MtlsJdkTls engine = tls();
        SSLContext context = bounding.apply(engine.sslContext());
        return builder -> builder.clientConnector(jdk.withHttpClientCustomizer(
            client -> client.sslContext(context).sslParameters(engine.sslParameters())).build(withBundle));
      }
    }
    return builder -> builder.clientConnector(connectors.build(withBundle));
  }

  /** Stops the engine following the source. */
  @Override
  public synchronized void close() {
    if (tls != null) {
      tls.close();
    }
  }

  /** The one kube-mtls JDK client engine of every WebClient from the bundle, made when first needed. */
  private synchronized MtlsJdkTls tls() {
    if (tls == null) {
      // Any server whose chain the bundle trusts, as with the bundle's managers; the name it
      // dialled is checked (HTTPS endpoint identification).
      tls = MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(PeerPolicy.allowAll()).listener(listener).build();
    }
    return tls;
  }

  /** One Netty context over the engine's context, for every Reactor Netty WebClient of the bundle. */
  private synchronized Object nettyContext() {
    if (nettyContext == null) {
      nettyContext = ReactorTls.context(tls(), policy);
    }
    return nettyContext;
  }

  /** Reactor Netty's side, loaded only when its connector is in use. */
  private static final class ReactorTls {
    static Object context(MtlsJdkTls engine, TlsPolicy policy) {
      @SuppressWarnings("deprecation")
      SslContext made = new JdkSslContext(engine.sslContext(), true, policy.cipherSuites(),
          IdentityCipherSuiteFilter.INSTANCE, ApplicationProtocolConfig.DISABLED,
          io.netty.handler.ssl.ClientAuth.NONE, policy.protocols().toArray(String[]::new), false);
      return made;
    }

    static Consumer<WebClient.Builder> connector(ReactorClientHttpConnectorBuilder reactor, Object context,
        HttpClientSettings settings) {
      SslContext netty = (SslContext) context;
      return builder -> builder.clientConnector(reactor.withHttpClientCustomizer(
          client -> client.secure(spec -> spec.sslContext(netty))).build(settings));
    }
  }

  /** Jetty's side, loaded only when Jetty's connector is in use. */
  private static final class JettyTls {
    static SslContextFactory.Client factory(MtlsJdkTls engine, TlsPolicy policy) {
      java.security.AlgorithmConstraints constraints = engine.sslParameters().getAlgorithmConstraints();
      SslContextFactory.Client factory = new SslContextFactory.Client() {
        @Override
        public SSLParameters customize(SSLParameters parameters) {
          // Jetty sets the protocols, suites and endpoint identification; the engine's parameters
          // carry the policy's signature schemes and groups.
          SSLParameters p = super.customize(parameters);
          p.setAlgorithmConstraints(constraints);
          return p;
        }
      };
      factory.setSslContext(engine.sslContext());
      factory.setEndpointIdentificationAlgorithm("HTTPS");
      factory.setIncludeProtocols(policy.protocols().toArray(String[]::new));
      factory.setExcludeProtocols();
      factory.setIncludeCipherSuites(policy.cipherSuites().toArray(String[]::new));
      factory.setExcludeCipherSuites();
      return factory;
    }
  }

  /** HttpComponents' side, loaded only when its connector is in use. */
  private static final class HttpComponentsTls {
    static TlsStrategy strategy(MtlsJdkTls engine, TlsPolicy policy) {
      return new DefaultClientTlsStrategy(engine.sslContext(), policy.protocols().toArray(String[]::new),
          policy.cipherSuites().toArray(String[]::new), null, new DefaultHostnameVerifier());
    }
  }
}
