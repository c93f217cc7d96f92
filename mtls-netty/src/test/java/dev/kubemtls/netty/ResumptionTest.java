package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A resumed TLS session skips the trust manager (BoringSSL and SunJSSE alike), so
 * {@link ServerTls} and {@link ClientTls} check the peer's certificate validity on every completed
 * handshake against their clock: a session resumed after the peer's notAfter is refused, with both
 * providers and in TLS 1.3 and 1.2. That the refused connection really resumed is shown by the
 * count of full trust checks, which stays at one.
 */
class ResumptionTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = Pki.trust("t@1", CA);
  private static final String NAME = "orders.shop.svc";
  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  static Stream<Arguments> providersAndProtocols() {
    return Stream.of(TlsProvider.OPENSSL, TlsProvider.JDK).flatMap(p ->
        Stream.of(Arguments.of(p, TlsPolicy.TLS_1_3), Arguments.of(p, TlsPolicy.TLS_1_2)));
  }

  private static TlsPolicy only(String protocol) {
    return TlsPolicy.builder().protocols(protocol).build();
  }

  @ParameterizedTest
  @MethodSource("providersAndProtocols")
  void aSessionResumedAfterTheClientsNotAfterIsRefusedByTheServer(TlsProvider provider, String protocol)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    try (ServerTls server = NettyMtls.forServer(new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), TRUST, 1)))
            .provider(provider).policy(only(protocol)).listener(serverEvents).clock(clock).build();
        ClientTls client = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(Pki.client(CA, 1), TRUST, 1)))
            .provider(provider).policy(only(protocol)).listener(clientEvents).build();
        Echo.Server echo = new Echo.Server(LOOPS.group(), server)) {
      for (int i = 0; i < 2; i++) {
        try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named(NAME, echo.port()))) {
          clientEvents.next();
          serverEvents.next().assertSucceeded(Side.SERVER, protocol);
          assertThat(conn.request("hello")).isEqualTo("hello");
        }
      }
      assertThat(server.chains.hits() + server.chains.misses()).as("the second connection resumed").isEqualTo(1);

      // TestCa leaves are valid from a minute ago for an hour.
      clock.advance(Duration.ofMinutes(61));
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named(NAME, echo.port()))) {
        RecordingTlsListener.Event atClient = clientEvents.next();
        serverEvents.next().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
        assertThat(conn.request("hello")).isNull();
        if (provider == TlsProvider.JDK) {
          // The JDK engine refuses before its ServerHello, so the client reads a fatal alert (with
          // BoringSSL, by the injected clock, the refusal follows the handshake: close_notify; by
          // the real clock the session has ended with the certificate, see below).
          assertThat(atClient.cause()).as("the client's failure").isNotNull();
          assertThat(atClient.cause().getMessage()).contains("certificate_expired");
        }
      }
      assertThat(server.chains.hits() + server.chains.misses()).as("it was a resumption").isEqualTo(1);
    }
  }

  /**
   * With BoringSSL a session lives no longer than the peer certificate it was made with, by the real
   * clock (BoringSSL reads no other). The client here is plain Netty with BoringSSL, whose sessions
   * live as long as its context says, not as long as its certificate (a kube-mtls client stops
   * offering them with its own certificate): it resumes while its certificate is valid, and
   * afterwards the server no longer accepts the session, so a full handshake refuses the expired
   * certificate with its alert, instead of a resumption.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aBoringSslSessionEndsWithThePeersCertificate(String protocol) throws Exception {
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    try (ServerTls server = NettyMtls.forServer(new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), TRUST, 1)))
            .provider(TlsProvider.OPENSSL).policy(only(protocol)).listener(serverEvents).build();
        Echo.Server echo = new Echo.Server(LOOPS.group(), server)) {
      // A first handshake with another client, so that a slow start does not eat the short validity.
      try (ClientTls c = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(Pki.client(CA, 1), TRUST, 1)))
              .provider(TlsProvider.OPENSSL).policy(only(protocol)).build();
          Echo.Conn conn = Echo.Conn.open(LOOPS.group(), c, Echo.named(NAME, echo.port()))) {
        assertThat(conn.request("hello")).isEqualTo("hello");
        serverEvents.next();
      }
      long checks = server.chains.hits() + server.chains.misses();
      java.time.Instant notAfter = java.time.Instant.now().plusSeconds(8);
      dev.kubemtls.core.TlsIdentity shortLived = Pki.identity(CA, 1, b -> b.commonName("web").spiffe("shop", "web")
          .validity(notAfter.minus(Duration.ofMinutes(1)), Duration.ofMinutes(1)));
      io.netty.handler.ssl.SslContext plain = io.netty.handler.ssl.SslContextBuilder.forClient()
          .sslProvider(io.netty.handler.ssl.SslProvider.OPENSSL).protocols(protocol)
          .keyManager(shortLived.privateKey(), shortLived.chain())
          .trustManager(CA.certificate()).build();
      java.util.function.Function<io.netty.channel.Channel, io.netty.channel.ChannelHandler> tls =
          ch -> plain.newHandler(ch.alloc(), NAME, echo.port());
      for (int i = 0; i < 2; i++) {
        try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), Echo.named(NAME, echo.port()), tls)) {
          serverEvents.next().assertSucceeded(Side.SERVER, protocol);
          assertThat(conn.request("hello")).isEqualTo("hello");
        }
      }
      assertThat(server.chains.hits() + server.chains.misses() - checks).as("the second connection resumed")
          .isEqualTo(1);

      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(() -> java.time.Instant.now().isAfter(notAfter.plusSeconds(1)));
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), Echo.named(NAME, echo.port()), tls)) {
        serverEvents.next().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
        assertThat(conn.request("hello")).isNull();
      }
      assertThat(server.chains.hits() + server.chains.misses() - checks)
          .as("a full handshake: the session had ended with the certificate").isEqualTo(2);
    }
  }

  @ParameterizedTest
  @MethodSource("providersAndProtocols")
  void aSessionResumedAfterTheServersNotAfterIsRefusedByTheClient(TlsProvider provider, String protocol)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    try (ServerTls server = NettyMtls.forServer(new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), TRUST, 1)))
            .provider(provider).policy(only(protocol)).listener(serverEvents).build();
        ClientTls client = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(Pki.client(CA, 1), TRUST, 1)))
            .provider(provider).policy(only(protocol)).listener(clientEvents).clock(clock).build();
        Echo.Server echo = new Echo.Server(LOOPS.group(), server)) {
      for (int i = 0; i < 2; i++) {
        try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named(NAME, echo.port()))) {
          clientEvents.next().assertSucceeded(Side.CLIENT, protocol);
          serverEvents.next();
          assertThat(conn.request("hello")).isEqualTo("hello");
        }
      }
      assertThat(client.chains.hits() + client.chains.misses()).as("the second connection resumed").isEqualTo(1);

      clock.advance(Duration.ofMinutes(61));
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named(NAME, echo.port()))) {
        clientEvents.next().assertFailed(Side.CLIENT, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
        assertThat(conn.request("hello")).isNull();
        if (provider == TlsProvider.JDK) {
          // The JDK client no longer offers a session of an expired server: a full handshake, whose
          // trust check refuses the server with an alert the server reads.
          RecordingTlsListener.Event atServer = serverEvents.next();
          assertThat(atServer.cause()).as("the server's failure").isNotNull();
          assertThat(atServer.cause().getMessage()).containsAnyOf("certificate_expired", "certificate_unknown",
              "bad_certificate");
        }
      }
      assertThat(client.chains.hits() + client.chains.misses())
          .as(provider == TlsProvider.JDK ? "a full handshake" : "it was a resumption")
          .isEqualTo(provider == TlsProvider.JDK ? 2 : 1);
    }
  }
}
