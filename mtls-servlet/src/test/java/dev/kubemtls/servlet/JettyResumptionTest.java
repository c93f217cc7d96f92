package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.security.cert.CertificateExpiredException;
import java.time.Duration;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SunJSSE resumes a TLS session without looking at the peer's notAfter; the Jetty server and client
 * of {@link JettyMtls} check it by their clock: a session resumed after the client's certificate
 * expired is refused by the server before its first flight, with a certificate_expired alert that
 * a JDK client and {@code openssl s_client} read, in TLS 1.3 (also after a HelloRetryRequest) and
 * 1.2; a client refuses a server's expired session too.
 */
class JettyResumptionTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = Pki.bundle("t@1", CA);

  private static TlsPolicy only(String protocol) {
    return TlsPolicy.builder().protocols(protocol).build();
  }

  private static MaterialPublisher server() {
    return new MaterialPublisher(Pki.material(CA, "shop", "orders", TRUST));
  }

  private static MaterialPublisher client() {
    return new MaterialPublisher(Pki.material(CA, "shop", "web", TRUST));
  }

  /** A new JDK client (so a new connection) over the same context (so the same session cache). */
  private static HttpClient newClient(SSLContext context, String protocol) {
    return JdkClients.client(context, MtlsSslContexts.sslParameters(only(protocol)));
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aSessionResumedAfterTheClientsNotAfterIsRefusedByTheServerWithAnAlert(String protocol) throws Exception {
    MutableClock clock = MutableClock.startingNow();
    try (TestServer s = new TestServer(server(), b -> b.clock(clock).policy(only(protocol)), null)) {
      SSLContext context = MtlsSslContexts.following(client(), only(protocol));

      HttpResponse<String> first = JdkClients.get(newClient(context, protocol), s.uri("/hello"));
      HttpResponse<String> second = JdkClients.get(newClient(context, protocol), s.uri("/hello"));
      assertThat(first.statusCode()).isEqualTo(200);
      assertThat(second.statusCode()).isEqualTo(200);
      SSLSession a = first.sslSession().orElseThrow();
      SSLSession b = second.sslSession().orElseThrow();
      assertThat(b.getCreationTime()).as("the second connection resumed the first session")
          .isEqualTo(a.getCreationTime());

      // Pki leaves are valid from a minute ago for an hour.
      clock.advance(Duration.ofMinutes(61));
      Throwable refused = catchThrowable(() -> JdkClients.get(newClient(context, protocol), s.uri("/hello")));

      assertThat(refused).as("the client got the server's alert, not just a closed connection")
          .hasStackTraceContaining("Received fatal alert: certificate_expired");
      assertThat(s.handshakeFailures).last().satisfies(f -> assertThat(f)
          .hasStackTraceContaining("refused to resume a TLS session")
          .hasRootCauseInstanceOf(CertificateExpiredException.class));
      assertThat(s.servletCalls).hasValue(2);
    }
  }

  /**
   * The same refusal seen by an outside peer, {@code openssl s_client} (Debian package
   * {@code openssl}), resuming with {@code -sess_out}/{@code -sess_in}: it reads the server's
   * certificate_expired alert (SSL alert number 45) where it expected a ServerHello. With
   * {@code -groups X448:P-256} it sends a key share only for X448, which the server does not take:
   * the server answers each ClientHello with a HelloRetryRequest first, and still refuses with the
   * alert before its ServerHello.
   */
  @ParameterizedTest
  @CsvSource({"TLSv1.3, -tls1_3", "TLSv1.2, -tls1_2", "TLSv1.3, -tls1_3 -groups X448:P-256"})
  void opensslResumingAfterItsNotAfterGetsTheAlert(String protocol, String options, @TempDir Path dir)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    dev.kubemtls.core.MtlsMaterial web = Pki.material(CA, "shop", "web", TRUST);
    Files.writeString(dir.resolve("ca.pem"), CA.certificatePem());
    Files.writeString(dir.resolve("web.pem"), TestCa.toPem(web.identity().leaf()));
    Files.writeString(dir.resolve("web.key"), TestCa.toPem(web.identity().privateKey()));
    List<String> flags = new ArrayList<>(List.of(options.split(" ")));
    try (TestServer s = new TestServer(server(), b -> b.clock(clock).policy(only(protocol)), null)) {
      String first = sClient(dir, s.connector.getLocalPort(), flags, "-sess_out", "session.pem");
      String second = sClient(dir, s.connector.getLocalPort(), flags, "-sess_in", "session.pem");
      assertThat(first).contains("New, ").contains("HTTP/1.1 200");
      assertThat(second).as("openssl resumed the session").contains("Reused, ").contains("HTTP/1.1 200");
      if (options.contains("X448")) {
        assertThat(first).as("a HelloRetryRequest moved the key exchange to P-256")
            .containsPattern("(Negotiated TLS1.3 group|Server Temp Key): [^\\n]*(prime256v1|P-256)");
      }

      clock.advance(Duration.ofMinutes(61));
      String late = sClient(dir, s.connector.getLocalPort(), flags, "-sess_in", "session.pem");

      assertThat(late).as("the server's alert").contains("SSL alert number 45").doesNotContain("HTTP/1.1 200");
      if (!options.contains("X448")) {
        assertThat(late).as("the alert record (7 bytes) was all the server sent: no ServerHello before it")
            .contains("SSL handshake has read 7 bytes");
      }
      assertThat(s.handshakeFailures).last().satisfies(f -> assertThat(f)
          .hasStackTraceContaining("refused to resume a TLS session"));
      assertThat(s.servletCalls).hasValue(2);
    }
  }

  private static String sClient(Path dir, int port, List<String> flags, String... more)
      throws java.io.IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
        "-CAfile", "ca.pem", "-cert", "web.pem", "-key", "web.key", "-ign_eof"));
    command.addAll(flags);
    command.addAll(List.of(more));
    Path out = Files.createTempFile(dir, "s_client", ".txt");
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    try {
      p.getOutputStream().write("GET /hello HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.UTF_8));
      p.getOutputStream().close();
    } catch (java.io.IOException e) {
      // s_client has already ended: its output says why
    }
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("openssl s_client did not end within 30 s: " + Files.readString(out));
    }
    return Files.readString(out);
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aSessionResumedAfterTheServersNotAfterIsRefusedByTheClient(String protocol) throws Exception {
    MutableClock clock = MutableClock.startingNow();
    java.util.List<Throwable> clientFailures = new java.util.concurrent.CopyOnWriteArrayList<>();
    dev.kubemtls.core.tls.TlsListener failures = new dev.kubemtls.core.tls.TlsListener() {
      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        if (side == Side.CLIENT) {
          clientFailures.add(cause);
        }
      }
    };
    try (TestServer s = new TestServer(server(), b -> b.policy(only(protocol)), null);
        RecordingClient c = new RecordingClient(client(), null,
            b -> b.clock(clock).policy(only(protocol)).listener(failures))) {
      java.util.List<Long> created = new java.util.concurrent.CopyOnWriteArrayList<>();
      c.http.addBean(new org.eclipse.jetty.io.ssl.SslHandshakeListener() {
        @Override
        public void handshakeSucceeded(Event event) {
          created.add(event.getSSLEngine().getSession().getCreationTime());
        }
      });
      assertThat(c.get(s.uri("/hello"), true).getStatus()).isEqualTo(200);
      assertThat(c.get(s.uri("/hello"), true).getStatus()).isEqualTo(200);
      assertThat(c.handshakes).hasValue(2);
      assertThat(created).as("the second connection resumed the first session").hasSize(2)
          .containsOnly(created.get(0));

      clock.advance(Duration.ofMinutes(61));
      Throwable refused = catchThrowable(() -> c.get(s.uri("/hello"), true));

      // The request fails; Jetty's client surfaces the engine's refusal or, racing the close that
      // follows it, only an EOF. The refusal itself is what the client's TlsListener hears.
      assertThat(refused).isNotNull();
      org.awaitility.Awaitility.await("the client's refusal reported").atMost(Duration.ofSeconds(10))
          .until(() -> !clientFailures.isEmpty());
      assertThat(clientFailures).anySatisfy(f -> assertThat(f)
          .hasStackTraceContaining("refused the TLS session at the end of its handshake"));
      assertThat(c.handshakes).hasValue(2);
      assertThat(s.servletCalls).hasValue(2);
    }
  }
}
