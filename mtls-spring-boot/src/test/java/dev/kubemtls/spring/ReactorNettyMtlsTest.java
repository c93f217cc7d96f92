package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.webclient.autoconfigure.WebClientSsl;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.client.WebClient;

/**
 * A real WebFlux application on Reactor Netty with {@code server.ssl.bundle=kube-mtls}: mTLS with
 * the caller as the exchange's principal, 403 with the reason outside the policy, certificate and
 * CA rotation under load with no failed request, and a WebClient built once that presents the
 * renewed certificate and trusts the new CA.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ReactorNettyMtlsTest {

  @Configuration(proxyBeanMethods = false)
  static class Netty {
    @Bean
    NettyReactiveWebServerFactory netty() {
      return new NettyReactiveWebServerFactory();
    }
  }

  static MtlsApp app;
  static WebClient webClient;
  static BigInteger serialBefore;

  @BeforeAll
  static void start() {
    app = new MtlsApp().start(WebApplicationType.REACTIVE, Netty.class, ReactiveEndpoints.class);
    webClient = app.context.getBean(WebClient.Builder.class).baseUrl(app.uri("").toString())
        .apply(app.context.getBean(WebClientSsl.class).fromBundle("kube-mtls")).build();
    serialBefore = app.server.current().identity().leaf().getSerialNumber();
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  private static String callWithWebClient() {
    return webClient.get().uri("/whoami").retrieve().bodyToMono(String.class).block(Duration.ofSeconds(10));
  }

  @Test
  @Order(1)
  void servesMutualTlsWithTheVerifiedCallerAsPrincipal() throws Exception {
    HttpResponse<String> r = app.get(app.frontend, "/whoami");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("spiffe://cluster.local/ns/shop/sa/frontend "
        + app.frontend.current().identity().leaf().getSerialNumber().toString(16));
    assertThat(MtlsApp.serverSerial(r)).isEqualTo(serialBefore);
    assertThat(callWithWebClient()).isEqualTo("spiffe://cluster.local/ns/shop/sa/web " + serialBefore.toString(16));
  }

  @Test
  @Order(2)
  void refusesACallerOutsideThePolicyWith403AndTheReason() throws Exception {
    HttpResponse<String> r = app.get(app.intruder, "/whoami");
    assertThat(r.statusCode()).isEqualTo(403);
    assertThat(r.body()).isEqualTo("peer spiffe://cluster.local/ns/other/sa/intruder is not in the allow-list\n");
  }

  @Test
  @Order(3)
  void certificateAndCaRotationUnderLoadFailNoRequestAndAWebClientBuiltOncePresentsTheNewCertificate()
      throws Exception {
    app.rotateUnderLoad();
    BigInteger now = app.server.current().identity().leaf().getSerialNumber();
    assertThat(now).isNotEqualTo(serialBefore);
    assertThat(callWithWebClient()).isEqualTo("spiffe://cluster.local/ns/shop/sa/web " + now.toString(16));
  }

  @Test
  @Order(10)
  void anOutsideClientGetsTheTlsPolicysSignatureSchemesAndGroupsOnly(@TempDir Path dir) throws Exception {
    new OpensslProbe(app, dir).assertTheTlsPolicyHolds();
  }

  @Test
  @Order(11)
  void anOutsideClientIsCheckedAgainstThePeerPolicy(@TempDir Path dir) throws Exception {
    new OpensslProbe(app, dir).assertThePeerPolicyHolds();
  }

  /**
   * A WebClient built from the bundle by the starter's {@code WebClientSsl} applies the whole TLS
   * policy to the servers it calls ({@link OpensslServer#assertTheClientHoldsTheTlsPolicy}); the
   * other connectors in {@link WebClientConnectorsTest}. Spring Boot's connector from the bundle's
   * managers fails the RSA+SHA1 case.
   */
  @Test
  @Order(13)
  void aWebClientFromTheBundleRefusesAServerOutsideTheTlsPolicy(@TempDir Path dir) throws Exception {
    WebClient client = app.context.getBean(WebClient.Builder.class)
        .apply(app.context.getBean(WebClientSsl.class).fromBundle("kube-mtls")).build();
    OpensslServer.assertTheClientHoldsTheTlsPolicy(app, dir, server -> status(client, server));
  }

  /**
   * The status only, the body cancelled after its first bytes: s_server -www keeps the connection
   * open after its page, and a connector may read a body to its end before it lets the exchange go.
   */
  static int status(WebClient client, java.net.URI server) {
    return client.get().uri(server).retrieve().toEntityFlux(org.springframework.core.io.buffer.DataBuffer.class)
        .flatMap(e -> e.getBody().take(1).map(org.springframework.core.io.buffer.DataBufferUtils::release)
            .then(reactor.core.publisher.Mono.just(e.getStatusCode().value())))
        .block(Duration.ofSeconds(20));
  }

  @Test
  @Order(12)
  void http2IsRefusedAtStartupWithWhatToDo() {
    MtlsApp h2 = new MtlsApp();
    try {
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> h2.start(WebApplicationType.REACTIVE,
              java.util.List.of("server.http2.enabled=true"), Netty.class, ReactiveEndpoints.class))
          .rootCause().isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("HTTP/1.1 only: set server.http2.enabled=false");
    } finally {
      h2.close();
    }
  }

  /**
   * A kept-alive connection is closed by the server at the maximum connection age (here 5 s, which the first response fits in):
   * a raw TLS socket reads its response and then the end of the stream, without sending another byte.
   * The first response must be written before the connection is due (it would carry Connection: close):
   * a request on another connection first warms the application up (its first /actuator/health once
   * took more than 3 s on a loaded machine).
   */
  @Test
  @Order(13)
  void theServerClosesAKeptAliveConnectionAtTheMaximumAge() throws Exception {
    MtlsApp bounded = new MtlsApp();
    try {
      bounded.start(WebApplicationType.REACTIVE, java.util.List.of("kube-mtls.max-connection-age=5s"),
          Netty.class, ReactiveEndpoints.class);
      assertThat(bounded.get(bounded.frontend, "/actuator/health").statusCode()).isEqualTo(200);
      // /actuator/health keeps the connection alive (/whoami asks for Connection: close).
      assertThat(ConnectionBoundProbe.closedWhileIdle(bounded, bounded.frontend, "/actuator/health", () -> {}).response())
          .startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
    } finally {
      bounded.close();
    }
  }
}
