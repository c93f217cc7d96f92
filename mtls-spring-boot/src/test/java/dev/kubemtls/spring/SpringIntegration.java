package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import jakarta.servlet.http.HttpServletResponse;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.jetty.servlet.JettyServletWebServerFactory;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/**
 * The conformance suite's view of the Spring Boot starter: a real Spring Boot application on
 * {@link Kind Tomcat, Reactor Netty or Jetty} with {@code server.ssl.bundle=kube-mtls}, fed the
 * suite's {@link MaterialSource}, {@link TlsPolicy} and {@link TlsListener} as beans (what an
 * application defines to replace the Kubernetes source), answering {@code GET /probe} with 200.
 *
 * <p>The client half is not Spring's: Spring Boot's HTTP clients take the bundle's
 * {@code SSLContext}, which is the kube-mtls JDK context of the source under the policy
 * ({@link MtlsJdkTls}) but has no {@link PeerPolicy} pin and no listener. So the client is the JDK
 * {@link HttpClient} on {@link MtlsJdkTls#forClient} with the suite's peer policy and listener: the
 * same engine a RestClient or WebClient from the bundle uses, plus the pin the suite checks.
 *
 * <p>How the starter differs from the handshake-level integrations, by design:
 *
 * <ul>
 *   <li>The server's handshake accepts any certificate from the trust bundle; its {@link PeerPolicy}
 *       ({@code kube-mtls.peer.*}) is applied per request by the servlet {@code MtlsPeerFilter} or
 *       the WebFlux {@code MtlsPeerWebFilter}: 403 with the reason and {@code requestRefused}. So a
 *       certificate without a SPIFFE ID is refused as a request ({@code PEER_NOT_ALLOWED}).
 *   <li>The starter holds the application's startup until the source has its first certificate
 *       (up to {@code kube-mtls.startup-timeout}), so before it the port is not open at all: a
 *       server made before its first material is an application starting on a port chosen here,
 *       refusing connections until the material is published, then serving without a restart.
 *   <li>Every server reports its handshakes to the application's listeners: on Tomcat and Reactor
 *       Netty the engines of the kube-mtls JDK context do, on Jetty the starter's connector as
 *       mtls-servlet's does.
 * </ul>
 */
final class SpringIntegration implements TlsIntegration {

  /** The web server under the application. */
  enum Kind {
    TOMCAT(WebApplicationType.SERVLET, TomcatFactory.class, ServletProbe.class, "HTTP/1.1 200 "),
    REACTOR_NETTY(WebApplicationType.REACTIVE, NettyFactory.class, ReactiveProbe.class, "HTTP/1.1 200 OK"),
    JETTY(WebApplicationType.SERVLET, JettyFactory.class, ServletProbe.class, "HTTP/1.1 200 OK");

    final WebApplicationType type;
    final Class<?> factory;
    final Class<?> endpoints;
    final String okLine;

    Kind(WebApplicationType type, Class<?> factory, Class<?> endpoints, String okLine) {
      this.type = type;
      this.factory = factory;
      this.endpoints = endpoints;
      this.okLine = okLine;
    }
  }

  private final Kind kind;
  private final String[] extraProperties;

  /** The starter on {@code kind}, with {@code extraProperties} ({@code key=value}) besides the suite's. */
  SpringIntegration(Kind kind, String... extraProperties) {
    this.kind = kind;
    this.extraProperties = extraProperties.clone();
  }

  @Override
  public String name() {
    return "spring " + kind;
  }

  @Override
  public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    if (peers.hasAllowList()) {
      throw new IllegalArgumentException("the adapter maps only PeerPolicy.anySpiffeId() (no kube-mtls.peer.* lists)");
    }
    if (source.currentIfReady().isPresent()) {
      ConfigurableApplicationContext context = start(source, policy, listener, 0);
      int port = ((WebServerApplicationContext) context).getWebServer().getPort();
      return server(port, context::close);
    }
    // The starter holds the application's startup until the first certificate (up to
    // kube-mtls.startup-timeout), so its port is not open before: it starts on a port chosen here.
    int port;
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    }
    CompletableFuture<ConfigurableApplicationContext> starting =
        CompletableFuture.supplyAsync(() -> start(source, policy, listener, port));
    return server(port, () -> starting.get(STARTUP.toSeconds() + 10, TimeUnit.SECONDS).close());
  }

  private static final Duration STARTUP = Duration.ofSeconds(30);

  private ConfigurableApplicationContext start(MaterialSource source, TlsPolicy policy, TlsListener listener, int port) {
    return new SpringApplicationBuilder(kind.factory, kind.endpoints)
        .web(kind.type)
        .initializers(c -> {
          c.getBeanFactory().registerSingleton("conformanceMaterialSource", source);
          c.getBeanFactory().registerSingleton("conformanceTlsPolicy", policy);
          c.getBeanFactory().registerSingleton("conformanceTlsListener", listener);
        })
        .properties("server.port=" + port, "server.address=127.0.0.1", "server.ssl.bundle=kube-mtls",
            "kube-mtls.startup-timeout=" + STARTUP.toSeconds() + "s", "spring.main.banner-mode=off")
        .properties(extraProperties)
        .run();
  }

  private static Server server(int port, Closer closer) {
    return new Server() {
      @Override
      public int port() {
        return port;
      }

      @Override
      public void close() throws Exception {
        closer.close();
      }
    };
  }

  private interface Closer {
    void close() throws Exception;
  }

  @Override
  public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener) {
    MtlsJdkTls tls = MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(peers).listener(listener).build();
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .sslContext(tls.sslContext()).sslParameters(tls.sslParameters())
        .connectTimeout(Duration.ofSeconds(10)).build();
    return new Client() {
      @Override
      public String call(int port) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/probe"))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode() == 200 ? okLine() : "HTTP/1.1 " + r.statusCode() + " " + r.body();
      }

      @Override
      public void close() {
        tls.close();
      }
    };
  }

  @Override
  public String probe() {
    return "GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  }

  /** Tomcat writes no reason phrase. */
  @Override
  public String okLine() {
    return kind.okLine;
  }

  @Override
  public boolean refusesPeersPerRequest() {
    return true;
  }

  @Configuration(proxyBeanMethods = false)
  static class TomcatFactory {
    @Bean
    TomcatServletWebServerFactory tomcat() {
      return new TomcatServletWebServerFactory();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class NettyFactory {
    @Bean
    NettyReactiveWebServerFactory netty() {
      return new NettyReactiveWebServerFactory();
    }
  }

  @Configuration(proxyBeanMethods = false)
  static class JettyFactory {
    @Bean
    JettyServletWebServerFactory jetty() {
      return new JettyServletWebServerFactory();
    }
  }

  /** {@code GET /probe}: 200 "ok" on a connection that closes. */
  @Configuration(proxyBeanMethods = false)
  @EnableAutoConfiguration
  @Import(ServletProbe.Probe.class)
  static class ServletProbe {
    @RestController
    static class Probe {
      @GetMapping("/probe")
      String probe(HttpServletResponse response) {
        response.setHeader("Connection", "close");
        return "ok";
      }
    }
  }

  /** {@code GET /probe}: 200 "ok" on a connection that closes. */
  @Configuration(proxyBeanMethods = false)
  @EnableAutoConfiguration
  @Import(ReactiveProbe.Probe.class)
  static class ReactiveProbe {
    @RestController
    static class Probe {
      @GetMapping("/probe")
      Mono<String> probe(ServerWebExchange exchange) {
        exchange.getResponse().getHeaders().set("Connection", "close");
        return Mono.just("ok");
      }
    }
  }
}
