package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.jetty.servlet.JettyServletWebServerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * A real servlet application on Jetty with {@code server.ssl.bundle=kube-mtls}. Spring Boot does
 * not reload Jetty's TLS; the starter's connector follows the identity: certificate and CA rotation
 * under load with no failed request, each new connection on the current certificate, 403 with the
 * reason outside the policy.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SpringJettyMtlsTest {

  @Configuration(proxyBeanMethods = false)
  static class Jetty {
    @Bean
    JettyServletWebServerFactory jetty() {
      return new JettyServletWebServerFactory();
    }
  }

  static MtlsApp app;

  @BeforeAll
  static void start() {
    app = new MtlsApp().start(WebApplicationType.SERVLET, Jetty.class, ServletEndpoints.class);
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  @Test
  @Order(1)
  void servesMutualTlsWithTheVerifiedCallerAsPrincipal() throws Exception {
    HttpResponse<String> r = app.get(app.frontend, "/whoami");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("spiffe://cluster.local/ns/shop/sa/frontend "
        + app.frontend.current().identity().leaf().getSerialNumber().toString(16));
    assertThat(MtlsApp.serverSerial(r)).isEqualTo(app.server.current().identity().leaf().getSerialNumber());
    assertThat(((org.springframework.boot.web.server.context.WebServerApplicationContext) app.context).getWebServer()).isInstanceOf(org.springframework.boot.jetty.JettyWebServer.class);
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
  void certificateAndCaRotationUnderLoadFailNoRequest() throws Exception {
    BigInteger before = app.server.current().identity().leaf().getSerialNumber();
    app.rotateUnderLoad();
    HttpResponse<String> r = app.get(app.frontend, "/whoami");
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(MtlsApp.serverSerial(r)).isEqualTo(app.server.current().identity().leaf().getSerialNumber())
        .isNotEqualTo(before);
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
   * Past the maximum connection age (here 2 s), the next request on a kept-alive connection is
   * served with {@code Connection: close} and Jetty closes the connection after it. Jetty's bound
   * is due the maximum age after the server's handshake and closes an idle due connection one
   * grace (1 s) later: the second request is sent in the middle of that window, 2.5 s after the
   * client's handshake, whatever the first request took. (With 300 ms and a second request 400 ms
   * after the first response, a first request that had not started 300 ms after the handshake, or
   * had taken 900 ms, on a loaded machine, failed the test.) A request on another connection first
   * warms the application up, so the first request is not its first.
   */
  @Test
  @Order(20)
  void aRequestPastTheMaximumAgeIsAnsweredWithConnectionCloseAndTheConnectionEnds() throws Exception {
    MtlsApp bounded = new MtlsApp();
    try {
      bounded.start(WebApplicationType.SERVLET, java.util.List.of("kube-mtls.max-connection-age=2s"),
          Jetty.class, ServletEndpoints.class);
      org.assertj.core.api.Assertions.assertThat(bounded.get(bounded.frontend, "/actuator/health").statusCode())
          .isEqualTo(200);
      String[] responses = ConnectionBoundProbe.twoRequestsAfterHandshake(bounded, "/actuator/health",
          java.time.Duration.ofMillis(2500));
      org.assertj.core.api.Assertions.assertThat(responses[0]).startsWith("HTTP/1.1 200")
          .doesNotContainIgnoringCase("connection: close");
      org.assertj.core.api.Assertions.assertThat(responses[1]).startsWith("HTTP/1.1 200")
          .containsIgnoringCase("connection: close");
    } finally {
      bounded.close();
    }
  }

  /**
   * An idle kept-alive connection is closed by Jetty with close_notify at the client certificate's
   * {@code notAfter} (a real certificate that expires 6 s after it is issued), and when the CA the
   * client's chain ended in leaves the bundle, without another request.
   */
  @Test
  @Order(21)
  void anIdleConnectionIsClosedAtTheClientCertificatesNotAfterAndWhenItsCaLeavesTheBundle() throws Exception {
    MtlsApp bounded = new MtlsApp();
    try {
      bounded.start(WebApplicationType.SERVLET, Jetty.class, ServletEndpoints.class);
      dev.kubemtls.core.MaterialPublisher shortLived = ConnectionBounds.shortLivedCaller(bounded);
      java.time.Instant notAfter = shortLived.current().identity().notAfter();
      ConnectionBoundProbe.Closed expiring = ConnectionBoundProbe.closedWhileIdle(bounded, shortLived,
          "/actuator/health", () -> { });
      org.assertj.core.api.Assertions.assertThat(expiring.response()).startsWith("HTTP/1.1 200");
      org.assertj.core.api.Assertions.assertThat(expiring.at()).as("closed at notAfter " + notAfter)
          .isAfterOrEqualTo(notAfter);

      ConnectionBoundProbe.Closed caRemoved = ConnectionBoundProbe.closedWhileIdle(bounded, bounded.frontend,
          "/actuator/health", () -> ConnectionBounds.dropFirstCa(bounded));
      org.assertj.core.api.Assertions.assertThat(caRemoved.response()).startsWith("HTTP/1.1 200");
    } finally {
      bounded.close();
    }
  }
}
