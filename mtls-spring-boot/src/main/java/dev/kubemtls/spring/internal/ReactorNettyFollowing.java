package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.IdentityCipherSuiteFilter;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.SslContext;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.Ssl;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;

/**
 * Reactor Netty serves the kube-mtls bundle with {@link ServerTls}: one Netty context over the
 * kube-mtls JDK context, whose engines each take the current snapshot under the {@link TlsPolicy}
 * (signature schemes and groups included) and the kube-mtls trust manager, so nothing needs
 * reloading when the bundle changes. HTTP/1.1 (no ALPN).
 *
 * <p>Every connection is bounded by its material with mtls-netty's {@code ConnectionLifetime}
 * (when mtls-netty is on the class path, which it is with the starter's Reactor Netty set up): ended
 * after the maximum age, by the client certificate's {@code notAfter} (read from the starter's
 * clock), or when the CA that issued the client's chain leaves the bundle; gracefully, since it sees
 * Reactor Netty's HTTP/1.1 codec: the next response says {@code Connection: close} and the
 * connection closes after it, an idle connection once it has been quiet for a second. It goes right
 * after Reactor Netty's TLS handler of each channel.
 */
public final class ReactorNettyFollowing
    implements WebServerFactoryCustomizer<NettyReactiveWebServerFactory>, Ordered,
    org.springframework.beans.factory.DisposableBean {

  private static final Logger LOG = LoggerFactory.getLogger(ReactorNettyFollowing.class);

  private final MaterialSource source;
  private final TlsPolicy policy;
  private final String bundle;
  private final java.time.Duration maxConnectionAge;
  private final dev.kubemtls.core.tls.TlsListener listener;
  private final java.time.InstantSource clock;
  /** The bounds installed, closed (unsubscribed from the source) with the application context. */
  private final java.util.List<AutoCloseable> bounds = new java.util.concurrent.CopyOnWriteArrayList<>();

  /**
   * {@code listener} is told of each handshake; {@code maxConnectionAge} null: connections are not
   * bounded; {@code clock} tells when a client certificate expires.
   */
  public ReactorNettyFollowing(MaterialSource source, TlsPolicy policy, String bundle,
      java.time.Duration maxConnectionAge, dev.kubemtls.core.tls.TlsListener listener,
      java.time.InstantSource clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    this.source = Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.bundle = Objects.requireNonNull(bundle, "bundle");
    this.maxConnectionAge = maxConnectionAge;
    this.listener = Objects.requireNonNull(listener, "listener");
  }

  @Override
  public void customize(NettyReactiveWebServerFactory factory) {
    if (factory.getHttp2() != null && factory.getHttp2().isEnabled() && factory.getSsl() != null
        && Ssl.isEnabled(factory.getSsl()) && bundle.equals(factory.getSsl().getBundle())) {
      throw new IllegalStateException("kube-mtls serves bundle '" + bundle + "' on Reactor Netty over"
          + " HTTP/1.1 only: set server.http2.enabled=false (or serve HTTP/2 on Tomcat or with mtls-netty)");
    }
    ServerTls tls = ServerTls.takeOver(factory, bundle, source, policy, listener);
    if (tls == null) {
      return;
    }
    TlsPolicy applied = tls.policy();
    @SuppressWarnings("deprecation")
    SslContext context = new JdkSslContext(tls.context(), false, applied.cipherSuites(),
        IdentityCipherSuiteFilter.INSTANCE, ApplicationProtocolConfig.DISABLED,
        applied.clientAuth() == ClientAuth.REQUIRE ? io.netty.handler.ssl.ClientAuth.REQUIRE
            : io.netty.handler.ssl.ClientAuth.OPTIONAL,
        applied.protocols().toArray(String[]::new), false);
    factory.addServerCustomizers(server -> server.secure(spec -> spec.sslContext(context)));
    if (maxConnectionAge != null) {
      if (org.springframework.util.ClassUtils.isPresent("dev.kubemtls.netty.ConnectionLifetime",
          ReactorNettyFollowing.class.getClassLoader())) {
        bounds.add(Bound.install(factory, source, maxConnectionAge, clock));
      } else {
        LOG.warn("kube-mtls: Reactor Netty connections are not bounded by their certificates: add"
            + " dev.kubemtls:mtls-netty to the class path (or set kube-mtls.max-connection-age to silence this)");
      }
    }
    LOG.info("Reactor Netty serves kube-mtls bundle '{}' (client certificates {}, max connection age {})",
        bundle, applied.clientAuth(), maxConnectionAge);
  }

  /** Kept apart so that the class loads only with mtls-netty present. */
  private static final class Bound {
    static AutoCloseable install(NettyReactiveWebServerFactory factory, MaterialSource source,
        java.time.Duration maxAge, java.time.InstantSource clock) {
      dev.kubemtls.netty.ConnectionLifetime lifetime =
          dev.kubemtls.netty.ConnectionLifetime.builder(source).maxAge(maxAge).clock(clock).build();
      factory.addServerCustomizers(server -> server.doOnChannelInit((observer, channel, remote) -> {
        if (channel.pipeline().get(reactor.netty.NettyPipeline.SslHandler) != null) {
          channel.pipeline().addAfter(reactor.netty.NettyPipeline.SslHandler, "kube-mtls-lifetime", lifetime);
        }
      }));
      return lifetime;
    }
  }

  @Override
  public void destroy() throws Exception {
    for (AutoCloseable bound : bounds) {
      bound.close();
    }
  }

  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }
}
