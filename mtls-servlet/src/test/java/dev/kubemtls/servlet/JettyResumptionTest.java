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
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * SunJSSE resumes a TLS session without looking at the peer's notAfter; the Jetty server and client
 * of {@link JettyMtls} check it, by their clock, when each handshake completes: a session resumed
 * after the peer's certificate expired is refused, in TLS 1.3 and 1.2.
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
  void aSessionResumedAfterTheClientsNotAfterIsRefusedByTheServer(String protocol) throws Exception {
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

      assertThat(refused).as("the client's request failed").isNotNull();
      assertThat(s.handshakeFailures).last().satisfies(f -> assertThat(f)
          .hasStackTraceContaining("refused the TLS session at the end of its handshake")
          .hasRootCauseInstanceOf(CertificateExpiredException.class));
      assertThat(s.servletCalls).hasValue(2);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aSessionResumedAfterTheServersNotAfterIsRefusedByTheClient(String protocol) throws Exception {
    MutableClock clock = MutableClock.startingNow();
    try (TestServer s = new TestServer(server(), b -> b.policy(only(protocol)), null);
        RecordingClient c = new RecordingClient(client(), null, b -> b.clock(clock).policy(only(protocol)))) {
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

      assertThat(refused).hasStackTraceContaining("refused the TLS session at the end of its handshake");
      assertThat(c.handshakes).hasValue(2);
      assertThat(s.servletCalls).hasValue(2);
    }
  }
}
