package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.netty.ConnectionLifetime;
import dev.kubemtls.testkit.TestCa;
import java.io.EOFException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
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
      // The application's clock stands a second before the connection is due: the grace (30 s)
      // before the client certificate's notAfter, which is still most of an hour away in real time.
      Instant notAfter = app.frontend.current().identity().notAfter();
      app.clock.set(notAfter.minus(ConnectionLifetime.DEFAULT_GRACE).minusSeconds(1));
      try (SSLSocket socket = connect(app)) {
        String first = get(socket, "/serial");
        assertThat(first).startsWith("HTTP/1.1 200").doesNotContainIgnoringCase("connection: close");
        assertClosedByTheServer(socket);
      }
    }
  }

  @Test
  void aKeptAliveConnectionIsClosedWhenItsCaLeavesTheServersBundle() throws Exception {
    try (MtlsApp app = new MtlsApp()) {
      app.start(WebApplicationType.REACTIVE, ReactorNettyMtlsTest.Netty.class,
          ReactiveExpiredPeerConnectionTest.KeepAlive.class);
      try (SSLSocket socket = connect(app)) {
        assertThat(get(socket, "/serial")).startsWith("HTTP/1.1 200");
        assertThat(get(socket, "/serial")).as("kept alive").startsWith("HTTP/1.1 200")
            .doesNotContainIgnoringCase("connection: close");

        // A CA rotation ends with the server trusting (and presenting a certificate from) a new CA only.
        TestCa next = TestCa.create("spring test CA 2", Instant.now().minus(Duration.ofHours(1)), Duration.ofDays(1));
        app.server.publish(app.issue(next, List.of(next), "web", Duration.ofHours(1)));
        assertClosedByTheServer(socket);
      }
    }
  }

  private static SSLSocket connect(MtlsApp app) throws Exception {
    SSLContext context = dev.kubemtls.core.tls.MtlsSslContexts.following(app.frontend);
    SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", app.port);
    socket.setSoTimeout(10_000);
    return socket;
  }

  /** Sends a kept-alive GET and reads its whole response (Content-Length or chunked). */
  private static String get(SSLSocket socket, String path) throws Exception {
    socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    socket.getOutputStream().flush();
    InputStream in = socket.getInputStream();
    StringBuilder response = new StringBuilder();
    while (!complete(response)) {
      int b = in.read();
      if (b < 0) {
        throw new EOFException("the server closed the connection before its response ended: " + response);
      }
      response.append((char) b);
    }
    return response.toString();
  }

  /** Reads, sending nothing, until the server closes; fails on a byte or a read timeout (10 s). */
  private static void assertClosedByTheServer(SSLSocket socket) throws Exception {
    try {
      assertThat(socket.getInputStream().read()).as("the end of the stream, nothing more").isEqualTo(-1);
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server kept the connection open for 10 s", e);
    }
  }

  private static boolean complete(StringBuilder r) {
    int end = r.indexOf("\r\n\r\n");
    if (end < 0) {
      return false;
    }
    String head = r.substring(0, end).toLowerCase(Locale.ROOT);
    Matcher length = Pattern.compile("content-length: *(\\d+)").matcher(head);
    if (length.find()) {
      return r.length() >= end + 4 + Integer.parseInt(length.group(1));
    }
    return r.toString().endsWith("0\r\n\r\n");
  }
}
