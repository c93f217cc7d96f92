package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.testkit.TestCa;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.math.BigInteger;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.http.client.ClientHttpRequestFactoryBuilder;
import org.springframework.boot.http.client.HttpClientSettings;
import org.springframework.boot.restclient.RestTemplateBuilder;
import org.springframework.boot.restclient.autoconfigure.RestClientSsl;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestTemplate;

/**
 * A real Spring Boot servlet application on Tomcat with {@code server.ssl.bundle=kube-mtls}, fed
 * by a test CA: mTLS with the caller as principal, 403 with the reason outside the policy,
 * certificate and CA rotation under load with no failed request, a RestClient and a RestTemplate
 * built once that present the renewed certificate, health down on expiry and up after renewal,
 * and the meters. One application context for all of it.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TomcatMtlsTest {

  @Configuration(proxyBeanMethods = false)
  static class Tomcat {
    @Bean
    TomcatServletWebServerFactory tomcat() {
      return new TomcatServletWebServerFactory();
    }
  }

  static MtlsApp app;
  static RestClient restClient;
  static RestTemplate restTemplate;
  static BigInteger serialBefore;

  @BeforeAll
  static void start() throws Exception {
    app = new MtlsApp().start(WebApplicationType.SERVLET, Tomcat.class, ServletEndpoints.class);
    // Built once, before any rotation, as an application would.
    restClient = app.context.getBean(RestClient.Builder.class).baseUrl(app.uri("").toString())
        .apply(app.context.getBean(RestClientSsl.class).fromBundle("kube-mtls")).build();
    restTemplate = app.context.getBean(RestTemplateBuilder.class).rootUri(app.uri("").toString())
        .sslBundle(app.context.getBean(SslBundles.class).getBundle("kube-mtls")).build();
    serialBefore = app.server.current().identity().leaf().getSerialNumber();
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
    assertThat(MtlsApp.serverSerial(r)).isEqualTo(serialBefore);
    assertThat(restClient.get().uri("/whoami").retrieve().body(String.class))
        .isEqualTo("spiffe://cluster.local/ns/shop/sa/web " + serialBefore.toString(16));
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
  void requiresAClientCertificateByDefault() throws Exception {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", app.cas.get(0).certificate());
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext noCertificate = SSLContext.getInstance("TLS");
    noCertificate.init(null, tmf.getTrustManagers(), null);
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).sslContext(noCertificate).build();
    // With TLS 1.3 the refusal shows on the client's first read: the exchange fails either way.
    assertThatThrownBy(() -> client.send(HttpRequest.newBuilder(app.uri("/whoami")).build(),
        HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
  }

  @Test
  @Order(4)
  void certificateAndCaRotationUnderLoadFailNoRequestAndClientsBuiltOncePresentTheNewCertificate() throws Exception {
    app.rotateUnderLoad();
    BigInteger now = app.server.current().identity().leaf().getSerialNumber();
    assertThat(now).isNotEqualTo(serialBefore);
    // The server sees the application's renewed certificate from clients built before the rotations,
    // and they accept the server's certificate from the new CA (the old one is no longer trusted).
    assertThat(restClient.get().uri("/whoami").retrieve().body(String.class))
        .isEqualTo("spiffe://cluster.local/ns/shop/sa/web " + now.toString(16));
    assertThat(restTemplate.getForObject("/whoami", String.class))
        .isEqualTo("spiffe://cluster.local/ns/shop/sa/web " + now.toString(16));
  }

  @Test
  @Order(5)
  void theMetersFollowTheCurrentCertificate() {
    MeterRegistry registry = app.context.getBean(MeterRegistry.class);
    MtlsMaterial current = app.server.current();
    Gauge chain = registry.find("ssl.chain.expiry").tag("bundle", "kube-mtls")
        .tag("chain", current.identity().alias()).gauge();
    assertThat(chain).as("Spring Boot's ssl.chain.expiry for the current certificate").isNotNull();
    // Spring Boot's meter reads the system clock, kube-mtls' the injected one (the test's MutableClock).
    double real = Duration.between(Instant.now(), current.identity().notAfter()).toSeconds();
    assertThat(chain.value()).isBetween(real - 5, real + 1);
    double expected = Duration.between(app.clock.instant(), current.identity().notAfter()).toMillis() / 1000.0;
    Gauge expiry = registry.find("kubemtls.certificate.expiry").gauge();
    assertThat(expiry).isNotNull();
    assertThat(expiry.value()).isBetween(expected - 1, expected + 1);
    assertThat(registry.find("kubemtls.tls.requests.refused").counters().stream()
        .mapToDouble(c -> c.count()).sum()).as("refused by the filter").isGreaterThanOrEqualTo(1);
    // The application's own TlsListener bean hears the same refusal as the metrics.
    assertThat(app.refusalsSeen).contains(
        "PEER_NOT_ALLOWED peer spiffe://cluster.local/ns/other/sa/intruder is not in the allow-list");
  }

  @Test
  @Order(6)
  void healthGoesDownWhenTheCertificateExpiresAndUpAfterRenewal() throws Exception {
    HttpResponse<String> up = app.get(app.frontend, "/actuator/health/kubeMtls");
    assertThat(up.statusCode()).isEqualTo(200);
    assertThat(up.body()).contains("\"status\":\"UP\"")
        .contains(app.server.current().identity().leaf().getSerialNumber().toString(16));

    Instant notAfter = app.server.current().identity().notAfter();
    app.clock.set(notAfter.plusSeconds(1));
    HttpResponse<String> down = app.get(app.frontend, "/actuator/health/kubeMtls");
    assertThat(down.statusCode()).isEqualTo(503);
    assertThat(down.body()).contains("\"status\":\"DOWN\"").contains("expired at " + notAfter);

    TestCa ca = app.cas.get(app.cas.size() - 1);
    MtlsMaterial renewed = app.issue(ca, List.of(ca), "web", Instant.now().minus(Duration.ofMinutes(1)), Duration.ofHours(3));
    app.server.publish(renewed);
    HttpResponse<String> again = app.get(app.frontend, "/actuator/health/kubeMtls");
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.body()).contains("\"status\":\"UP\"")
        .contains(renewed.identity().leaf().getSerialNumber().toString(16));
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

  @Test
  @Order(12)
  void aJdkClientMadeFromTheBundleOffersThePolicysGroupsOnly(@TempDir Path dir) throws Exception {
    SslBundle bundle = app.context.getBean(SslBundles.class).getBundle("kube-mtls");
    RestClient jdk = RestClient.builder().requestFactory(
        ClientHttpRequestFactoryBuilder.jdk().build(HttpClientSettings.ofSslBundle(bundle))).build();
    try (OpensslServer server = OpensslServer.start(app, dir, "-groups", "X25519")) {
      // The status only: s_server -www keeps the connection open after its page.
      Integer status = jdk.get().uri(server.uri())
          .exchange((request, response) -> response.getStatusCode().value(), false);
      assertThat(status).isEqualTo(200);
    }
    for (String group : new String[] {"X448", "P-521", "ffdhe2048"}) {
      try (OpensslServer server = OpensslServer.start(app, dir, "-groups", group)) {
        assertThatThrownBy(() -> jdk.get().uri(server.uri()).exchange((request, response) -> Integer.valueOf(0), false)).as(group)
            .hasRootCauseInstanceOf(javax.net.ssl.SSLHandshakeException.class);
      }
    }
  }

  /**
   * Past the maximum connection age (here 300 ms), the next request on a kept-alive connection is
   * served with {@code Connection: close} and Tomcat closes the connection after it.
   */
  @Test
  @Order(20)
  void aRequestPastTheMaximumAgeIsAnsweredWithConnectionCloseAndTheConnectionEnds() throws Exception {
    MtlsApp bounded = new MtlsApp();
    try {
      bounded.start(WebApplicationType.SERVLET, java.util.List.of("kube-mtls.max-connection-age=300ms"),
          Tomcat.class, ServletEndpoints.class);
      String[] responses = ConnectionBoundProbe.twoRequests(bounded, "/actuator/health", java.time.Duration.ofMillis(400));
      assertThat(responses[0]).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
      assertThat(responses[1]).startsWith("HTTP/1.1 200").containsIgnoringCase("connection: close");
    } finally {
      bounded.close();
    }
  }

  /**
   * A kept-alive connection ends at the client certificate's {@code notAfter} (a real certificate
   * that expires 6 s after it is issued) and when the CA the client's chain ended in leaves the
   * bundle: the next request on it is served with {@code Connection: close} and Tomcat closes the
   * connection after the response.
   */
  @Test
  @Order(21)
  void aConnectionEndsAtTheClientCertificatesNotAfterAndWhenItsCaLeavesTheBundle() throws Exception {
    MtlsApp bounded = new MtlsApp();
    try {
      bounded.start(WebApplicationType.SERVLET, Tomcat.class, ServletEndpoints.class);
      dev.kubemtls.core.MaterialPublisher shortLived = ConnectionBounds.shortLivedCaller(bounded);
      Instant notAfter = shortLived.current().identity().notAfter();
      String[] expiring = ConnectionBoundProbe.twoRequests(bounded, shortLived, "/actuator/health",
          () -> ConnectionBounds.awaitPast(notAfter));
      assertThat(expiring[0]).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
      assertThat(expiring[1]).as("the request after notAfter").startsWith("HTTP/1.1 200")
          .containsIgnoringCase("connection: close");

      String[] caRemoved = ConnectionBoundProbe.twoRequests(bounded, bounded.frontend, "/actuator/health",
          () -> ConnectionBounds.dropFirstCa(bounded));
      assertThat(caRemoved[0]).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
      assertThat(caRemoved[1]).as("the request after the client's CA left the bundle")
          .containsIgnoringCase("connection: close");
    } finally {
      bounded.close();
    }
  }
}
