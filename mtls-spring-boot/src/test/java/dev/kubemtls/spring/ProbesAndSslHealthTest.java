package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The README's recipe for kubelet probes, on a real Tomcat application: the application serves mTLS
 * on its port and Actuator on a plain-HTTP management port ({@code management.server.port}), so a
 * probe without a certificate reaches {@code /actuator/health/liveness} while the mTLS port refuses
 * callers without one. And Spring Boot's own {@code ssl} health judges the kube-mtls chain by a
 * threshold that fits its lifetime: valid while it is, expiring once it is past its renewal window.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ProbesAndSslHealthTest {

  @Configuration(proxyBeanMethods = false)
  static class Tomcat {
    @Bean
    TomcatServletWebServerFactory tomcat() {
      return new TomcatServletWebServerFactory();
    }
  }

  static MtlsApp app;
  static int managementPort;
  static final HttpClient PLAIN = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start() {
    app = new MtlsApp().start(WebApplicationType.SERVLET, List.of(
        // The recipe: Actuator on a port of its own, plain HTTP, for the kubelet's probes.
        "management.server.port=0",
        "management.server.address=127.0.0.1",
        "management.server.ssl.enabled=false",  // else it serves the main server's TLS settings
        "management.endpoint.health.probes.enabled=true",
        // This module's test class path holds Tomcat, Jetty and Reactor Netty, whose management child
        // context configurations share a bean name; an application has one server and needs no such line.
        "spring.main.allow-bean-definition-overriding=true"), Tomcat.class, ServletEndpoints.class);
    managementPort = Integer.parseInt(app.context.getEnvironment().getProperty("local.management.port"));
  }

  @AfterAll
  static void stop() {
    app.close();
  }

  static HttpResponse<String> plainGet(String path) throws Exception {
    return PLAIN.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + path))
        .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  @Order(1)
  void aPlainHttpProbeReachesLivenessAndReadinessWhileTheMtlsPortRefusesCallersWithoutACertificate()
      throws Exception {
    assertThat(managementPort).isNotEqualTo(app.port);
    HttpResponse<String> liveness = plainGet("/actuator/health/liveness");
    assertThat(liveness.statusCode()).isEqualTo(200);
    assertThat(liveness.body()).contains("\"status\":\"UP\"");
    assertThat(plainGet("/actuator/health/readiness").statusCode()).isEqualTo(200);

    // The application's port: plain HTTP gets Tomcat's 400 ("requires TLS"), no health.
    HttpResponse<String> plainToMtlsPort = PLAIN.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + app.port + "/actuator/health/liveness")).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(plainToMtlsPort.statusCode()).isEqualTo(400);
    assertThat(plainToMtlsPort.body()).doesNotContain("UP");
    // And TLS without a client certificate fails.
    SSLContext noCertificate = SSLContext.getInstance("TLS");
    noCertificate.init(null, new javax.net.ssl.TrustManager[] {trustOnly(app.cas.get(0))}, null);
    HttpClient withoutCertificate = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .sslContext(noCertificate).build();
    assertThatThrownBy(() -> withoutCertificate.send(HttpRequest.newBuilder(app.uri("/actuator/health/liveness"))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()))
        .isInstanceOf(IOException.class);
    // The same caller with a certificate still gets through on the mTLS port.
    assertThat(app.get(app.frontend, "/whoami").statusCode()).isEqualTo(200);
  }

  @Test
  @Order(2)
  void springsSslHealthCountsAFreshShortLivedChainAsValidAndAnOverdueOneAsExpiring() throws Exception {
    // A one-hour certificate with 59 minutes left: Boot's default (14 days) would call it expiring.
    HttpResponse<String> fresh = plainGet("/actuator/health/ssl");
    assertThat(fresh.statusCode()).isEqualTo(200);
    assertThat(fresh.body()).contains("\"validChains\":[{\"alias\":").contains("spring test CA 1")
        .contains("\"expiringChains\":[]");

    // Past 90 % of its life (renewal overdue): 4 minutes of 60 left, under the 6-minute threshold.
    TestCa ca = app.cas.get(0);
    MtlsMaterial overdue = app.issue(ca, List.of(ca), "web", Instant.now().minus(Duration.ofMinutes(56)),
        Duration.ofHours(1));
    app.server.publish(new MtlsMaterial(overdue.identity(), app.server.current().trust(),
        Math.max(overdue.generation(), app.server.current().generation() + 1)));
    app.awaitBundleUpdated();
    HttpResponse<String> late = plainGet("/actuator/health/ssl");
    assertThat(late.body()).contains("\"expiringChains\":[{\"alias\":")
        .contains(overdue.identity().leaf().getSerialNumber().toString(16));
  }

  private static javax.net.ssl.X509TrustManager trustOnly(TestCa ca) throws Exception {
    java.security.KeyStore trust = java.security.KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", ca.certificate());
    javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    return (javax.net.ssl.X509TrustManager) tmf.getTrustManagers()[0];
  }
}
