package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.netty.ConnectionLifetime;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;

/**
 * WebFlux on Reactor Netty under the starter, with its default connection bound: a kept-alive
 * connection is closed by the server when the client certificate reaches its {@code notAfter} (by
 * the application's clock, less the bound's grace, so that it is closed by then) and when the CA
 * that issued it leaves the server's trust bundle, without the client sending another byte.
 */
class ReactorNettyConnectionBoundTest {

  @Test
  void aKeptAliveConnectionIsClosedByTheClientCertificatesNotAfter() throws Exception {
    try (MtlsApp app = new MtlsApp()) {
      app.start(WebApplicationType.REACTIVE, ReactorNettyMtlsTest.Netty.class,
          ReactiveExpiredPeerConnectionTest.KeepAlive.class);
      // A request on another connection warms the application up, so that the probed connection's
      // first request is not its first (which can take seconds on a loaded machine).
      assertThat(app.get(app.frontend, "/serial").statusCode()).isEqualTo(200);
      // The application's clock stands 4 s before the connection is due: the grace (30 s) before the
      // client certificate's notAfter, which is still most of an hour away in real time. The first
      // response must be written before then (or it carries Connection: close): 4 s, not 1 s, for a
      // loaded machine.
      Instant notAfter = app.frontend.current().identity().notAfter();
      app.clock.set(notAfter.minus(ConnectionLifetime.DEFAULT_GRACE).minusSeconds(4));
      try (SSLSocket socket = ConnectionBoundProbe.connect(app, app.frontend)) {
        String first = ConnectionBoundProbe.get(socket, "/serial");
        assertThat(first).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
        ConnectionBoundProbe.assertClosedByTheServer(socket);
      }
    }
  }

  @Test
  void aKeptAliveConnectionIsClosedWhenItsCaLeavesTheServersBundle() throws Exception {
    try (MtlsApp app = new MtlsApp()) {
      app.start(WebApplicationType.REACTIVE, ReactorNettyMtlsTest.Netty.class,
          ReactiveExpiredPeerConnectionTest.KeepAlive.class);
      try (SSLSocket socket = ConnectionBoundProbe.connect(app, app.frontend)) {
        assertThat(ConnectionBoundProbe.get(socket, "/serial")).startsWith("HTTP/1.1 200");
        assertThat(ConnectionBoundProbe.get(socket, "/serial")).as("kept alive").startsWith("HTTP/1.1 200")
            .doesNotContainIgnoringCase("connection: close");

        // A CA rotation ends with the server trusting (and presenting a certificate from) a new CA only.
        TestCa next = TestCa.create("spring test CA 2", Instant.now().minus(Duration.ofHours(1)), Duration.ofDays(1));
        app.server.publish(app.issue(next, List.of(next), "web", Duration.ofHours(1)));
        ConnectionBoundProbe.assertClosedByTheServer(socket);
      }
    }
  }
}
