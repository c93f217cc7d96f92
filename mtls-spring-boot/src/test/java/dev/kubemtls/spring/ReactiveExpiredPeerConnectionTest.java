package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.tls.MtlsSslContexts;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;

/**
 * WebFlux on Reactor Netty with a pooled client: its kept-alive connection keeps presenting the
 * certificate it was made with after a renewal; once that certificate has expired by the
 * application's clock, {@link MtlsPeerWebFilter} serves the request and closes the connection with
 * the response, so the next request comes on a new connection with the renewed certificate.
 */
class ReactiveExpiredPeerConnectionTest {

  /** {@code /serial}: the serial of the client certificate of this connection; keeps the connection. */
  @Configuration(proxyBeanMethods = false)
  @EnableAutoConfiguration
  @Import(KeepAlive.Serial.class)
  static class KeepAlive {
    @RestController
    static class Serial {
      @GetMapping("/serial")
      String serial(ServerWebExchange exchange) {
        return exchange.getRequest().getSslInfo().getPeerCertificates()[0].getSerialNumber().toString(16);
      }
    }
  }

  @Test
  void aKeptAliveConnectionWhoseClientCertificateExpiredEndsAfterOneMoreResponse() throws Exception {
    try (MtlsApp app = new MtlsApp()) {
      Instant start = app.clock.instant();
      MaterialPublisher caller = new MaterialPublisher(
          app.issue(app.cas.get(0), app.cas, "frontend", start.minusSeconds(60), Duration.ofMinutes(30)));
      app.start(WebApplicationType.REACTIVE, ReactorNettyMtlsTest.Netty.class, KeepAlive.class);
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .sslContext(MtlsSslContexts.following(caller)).connectTimeout(Duration.ofSeconds(5)).build();
      String first = serial(caller);

      HttpResponse<String> a = get(client, app);
      HttpResponse<String> b = get(client, app);
      assertThat(List.of(a.body(), b.body())).containsOnly(first);
      assertThat(b.headers().firstValue("connection")).isEmpty();
      assertThat(sslSessionId(a)).as("one kept-alive connection").isEqualTo(sslSessionId(b));

      // The client renews (a day's certificate); its pooled connection still has the first one.
      MtlsMaterial renewed = app.issue(app.cas.get(0), app.cas, "frontend", start.minusSeconds(60), Duration.ofDays(1));
      caller.publish(renewed);
      HttpResponse<String> beforeExpiry = get(client, app);
      assertThat(beforeExpiry.body()).as("still the first connection").isEqualTo(first);
      assertThat(beforeExpiry.headers().firstValue("connection")).isEmpty();

      app.clock.advance(Duration.ofMinutes(45));
      HttpResponse<String> afterExpiry = get(client, app);
      assertThat(afterExpiry.statusCode()).as("served, not refused").isEqualTo(200);
      assertThat(afterExpiry.body()).isEqualTo(first);
      assertThat(afterExpiry.headers().firstValue("connection")).hasValue("close");

      HttpResponse<String> next = get(client, app);
      assertThat(next.statusCode()).isEqualTo(200);
      assertThat(next.body()).as("a new connection, with the renewed certificate").isEqualTo(serial(caller));
      assertThat(next.headers().firstValue("connection")).as("its certificate is current").isEmpty();
    }
  }

  private static HttpResponse<String> get(HttpClient client, MtlsApp app) throws Exception {
    HttpResponse<String> r = client.send(HttpRequest.newBuilder(app.uri("/serial")).timeout(Duration.ofSeconds(10))
        .GET().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return r;
  }

  private static String serial(MaterialPublisher source) {
    X509Certificate leaf = source.current().identity().leaf();
    return leaf.getSerialNumber().toString(16);
  }

  private static String sslSessionId(HttpResponse<?> r) {
    return java.util.HexFormat.of().formatHex(r.sslSession().orElseThrow().getId());
  }
}
