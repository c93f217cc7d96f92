package dev.kubemtls.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.internal.MtlsTrustManager;
import dev.kubemtls.core.internal.RateLimitedLog;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.EnginePair;
import dev.kubemtls.core.testing.EnginePair.Outcome;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.net.Socket;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * {@link MtlsSslContexts} in real handshakes between JDK engines: the peer policy is applied in the
 * handshake (a refused peer gets a fatal alert), by trust domain; a session resumed after the peer's
 * notAfter (by the injected clock) is refused with a fatal alert, in TLS 1.2 and 1.3, on both sides
 * (a server refuses it before its first flight, a client does not offer it); sessions live no
 * longer than the context's own certificate.
 */
class MtlsSslContextsTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");
  private static final String HOST = "orders.shop.svc";

  private static MtlsMaterial material(UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = spec.apply(CA.leaf(kp.getPublic())).build();
    return new MtlsMaterial(new TlsIdentity(kp.getPrivate(), List.of(leaf), 1), TRUST, 1);
  }

  private static MtlsMaterial server() {
    return material(b -> b.commonName("orders").spiffe("shop", "orders").dns(HOST));
  }

  private static MtlsMaterial client(String spiffeId) {
    return material(b -> spiffeId == null ? b.commonName("web") : b.commonName("web").uri(spiffeId));
  }

  private static TlsPolicy protocol(String protocol) {
    return TlsPolicy.builder().protocols(protocol).build();
  }

  private static Outcome handshake(SSLContext client, SSLContext server) {
    return EnginePair.run(client.createSSLEngine(HOST, 8443), server.createSSLEngine());
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aClientWithoutSpiffeIdIsRefusedInTheHandshakeWithAnAlert(String protocol) {
    SSLContext server = MtlsSslContexts.following(new MaterialPublisher(server()), protocol(protocol));
    SSLContext client = MtlsSslContexts.of(client(null), PeerPolicy.allowAll());

    Outcome o = handshake(client, server);

    assertThat(o.server()).hasMessageContaining("no SPIFFE ID");
    assertThat(o.client()).as("the client got an alert, not just a closed connection")
        .hasMessageContaining("Received fatal alert: certificate_unknown");
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aServerOutsideTheClientsPolicyIsRefusedWithAnAlert(String protocol) {
    SSLContext server = MtlsSslContexts.following(new MaterialPublisher(server()), protocol(protocol));
    SSLContext client = MtlsSslContexts.following(new MaterialPublisher(client("spiffe://cluster.local/ns/shop/sa/web")),
        protocol(protocol), PeerPolicy.builder().allowServiceAccount("shop", "billing").build());

    Outcome o = handshake(client, server);

    assertThat(o.client()).hasMessageContaining("not in the allow-list");
    assertThat(o.server()).hasMessageContaining("Received fatal alert: certificate_unknown");
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void theSameNamespaceInAnotherTrustDomainIsRefused(String protocol) {
    PeerPolicy shop = PeerPolicy.builder().allowNamespace("shop").build();
    SSLContext server = MtlsSslContexts.following(new MaterialPublisher(server()), protocol(protocol), shop);

    Outcome foreign = handshake(MtlsSslContexts.of(client("spiffe://evil.example/ns/shop/sa/web")), server);
    assertThat(foreign.server()).hasMessageContaining("trust domain evil.example");
    assertThat(foreign.client()).hasMessageContaining("Received fatal alert");

    Outcome own = handshake(MtlsSslContexts.of(client("spiffe://cluster.local/ns/shop/sa/web")), server);
    assertThat(own.succeeded()).as("%s", own).isTrue();
  }

  /** A trust manager that counts the full checks it is asked for. */
  private static final class Counting extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager delegate;
    private final AtomicInteger checks;

    Counting(X509ExtendedTrustManager delegate, AtomicInteger checks) {
      this.delegate = delegate;
      this.checks = checks;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkClientTrusted(c, a, s);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkServerTrusted(c, a, s);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkClientTrusted(c, a, e);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkServerTrusted(c, a, e);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] c, String a) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkClientTrusted(c, a);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException {
      checks.incrementAndGet();
      delegate.checkServerTrusted(c, a);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return delegate.getAcceptedIssuers();
    }
  }

  private static SSLContext counted(MtlsMaterial material, TlsPolicy policy, MutableClock clock,
      AtomicInteger checks, String side) {
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(MtlsSslContextsTest.class), System::nanoTime);
    FollowingSslContextSpi spi = new FollowingSslContextSpi(new MaterialPublisher(material), new JdkTls(policy),
        side, m -> new Counting(new MtlsTrustManager(m.trust(), side, PeerPolicy.anySpiffeId(), log), checks), clock);
    return spi.newSslContext();
  }

  /** As {@link #counted}, with a trust manager whose full check also reads {@code clock}. */
  private static SSLContext countedOnClock(MtlsMaterial material, TlsPolicy policy, MutableClock clock,
      AtomicInteger checks, String side) {
    RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger(MtlsSslContextsTest.class), System::nanoTime);
    dev.kubemtls.core.internal.VerifiedChains chains = new dev.kubemtls.core.internal.VerifiedChains(clock, 16);
    FollowingSslContextSpi spi = new FollowingSslContextSpi(new MaterialPublisher(material), new JdkTls(policy),
        side, m -> new Counting(new MtlsTrustManager(m.trust(), side, PeerPolicy.anySpiffeId(), log, chains), checks),
        clock);
    return spi.newSslContext();
  }

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aSessionResumedAfterTheClientsNotAfterIsRefusedByTheServerWithAnAlert(String protocol) {
    MutableClock clock = MutableClock.startingNow();
    AtomicInteger serverChecks = new AtomicInteger();
    SSLContext server = counted(server(), protocol(protocol), clock, serverChecks, "server");
    SSLContext client = MtlsSslContexts.of(client("spiffe://cluster.local/ns/shop/sa/web"));

    assertThat(handshake(client, server).succeeded()).isTrue();
    Outcome resumed = handshake(client, server);
    assertThat(resumed.succeeded()).isTrue();
    assertThat(serverChecks).as("the second handshake resumed: no trust check").hasValue(1);

    // TestCa certificates are valid for an hour from a minute ago; sessions live at most that long.
    clock.advance(Duration.ofMinutes(61));
    Outcome late = handshake(client, server);

    assertThat(serverChecks).as("still a resumption").hasValue(1);
    assertThat(late.server()).hasMessageContaining("refused to resume a TLS session")
        .hasRootCauseInstanceOf(CertificateExpiredException.class);
    // Refused before the server's first flight: the client reads a plaintext fatal alert where it
    // expected a ServerHello.
    assertThat(late.client()).as("the client got the server's alert")
        .hasMessageContaining("Received fatal alert: certificate_expired");
    assertThat(late.clientClosedByPeer()).as("no close_notify: an alert").isTrue();
  }

  /**
   * A client engine does not offer a session whose server certificate has expired by its clock: the
   * session is invalidated before its ClientHello, so the server makes a full handshake and the
   * client's trust check refuses the expired certificate with an alert the server receives.
   */
  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aClientEngineDoesNotResumeASessionWhoseServerHasExpiredAndRefusesItWithAnAlert(String protocol) {
    MutableClock clock = MutableClock.startingNow();
    AtomicInteger clientChecks = new AtomicInteger();
    SSLContext server = MtlsSslContexts.following(new MaterialPublisher(server()), protocol(protocol));
    // The trust manager's full check reads the same clock, as it does in production (both the system's).
    SSLContext client = countedOnClock(client("spiffe://cluster.local/ns/shop/sa/web"), protocol(protocol), clock,
        clientChecks, "client");

    assertThat(handshake(client, server).succeeded()).isTrue();
    assertThat(handshake(client, server).succeeded()).isTrue();
    assertThat(clientChecks).as("the second handshake resumed").hasValue(1);

    clock.advance(Duration.ofMinutes(61));
    Outcome late = handshake(client, server);

    assertThat(clientChecks).as("no resumption of the expired server's session: a full handshake").hasValue(2);
    assertThat(late.client()).hasRootCauseInstanceOf(CertificateExpiredException.class);
    assertThat(late.server()).as("the server got the client's alert").hasMessageContaining("Received fatal alert");
  }

  /**
   * Sockets cannot be checked when their handshake completes, so a client socket must never resume a
   * session whose server certificate has expired by the injected clock: the cached session is
   * invalidated before the socket is made, and the next connection is a full handshake (whose trust
   * check would refuse an expired certificate with an alert).
   */
  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aClientSocketDoesNotResumeASessionWhoseServerCertificateHasExpired(String protocol) throws Exception {
    MutableClock clock = MutableClock.startingNow();
    AtomicInteger clientChecks = new AtomicInteger();
    SSLContext server = MtlsSslContexts.of(server());
    SSLContext client = counted(client("spiffe://cluster.local/ns/shop/sa/web"), protocol(protocol), clock,
        clientChecks, "client");
    try (javax.net.ssl.SSLServerSocket listening = echoServer(server)) {
      int port = listening.getLocalPort();

      assertThat(exchange(client, port)).isEqualTo("hello");
      assertThat(exchange(client, port)).isEqualTo("hello");
      assertThat(clientChecks).as("the second connection resumed: no trust check").hasValue(1);

      clock.advance(Duration.ofMinutes(61));
      assertThat(exchange(client, port)).isEqualTo("hello");
      assertThat(clientChecks).as("no resumption of the expired server's session: a full handshake").hasValue(2);
    }
  }

  /**
   * An engine's session cache is swept only when a sweep may be due, since the engine checks its
   * session when the handshake completes; a socket cannot, so its cache is swept before every
   * socket: a session whose server expired within a second of the last sweep is not resumed either.
   */
  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aClientSocketDoesNotResumeASessionWhoseServerExpiredJustAfterTheLastSweep(String protocol) throws Exception {
    // Certificates carry whole seconds: the server's ends at a second boundary. The JDK's PKIX check
    // runs on the real clock, so the certificate stays valid there for the whole test (it once ended a
    // second after the start, and a slow start ran past it); the injected clock starts half a second
    // before its end.
    java.time.Instant notAfter = java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS)
        .plusSeconds(60);
    MutableClock clock = new MutableClock(notAfter.minusMillis(500));
    AtomicInteger clientChecks = new AtomicInteger();
    SSLContext server = MtlsSslContexts.of(material(b -> b.commonName("orders").spiffe("shop", "orders").dns(HOST)
        .validity(notAfter.minus(Duration.ofMinutes(2)), Duration.ofMinutes(2))));
    SSLContext client = countedOnClock(client("spiffe://cluster.local/ns/shop/sa/web"), protocol(protocol), clock,
        clientChecks, "client");
    try (javax.net.ssl.SSLServerSocket listening = echoServer(server)) {
      int port = listening.getLocalPort();
      assertThat(exchange(client, port)).isEqualTo("hello");

      // Past the server's notAfter, well inside the second after the sweep of the first socket.
      clock.advance(Duration.ofMillis(600));
      assertThatThrownBy(() -> exchange(client, port)).as("a full handshake, refused: the server has expired")
          .hasRootCauseInstanceOf(CertificateExpiredException.class);
      assertThat(clientChecks).as("no resumption: the trust check ran again").hasValue(2);
    }
  }

  /** A server socket of {@code server} on loopback that echoes one line per connection. */
  private static javax.net.ssl.SSLServerSocket echoServer(SSLContext server) throws Exception {
    javax.net.ssl.SSLServerSocket listening = (javax.net.ssl.SSLServerSocket) server.getServerSocketFactory()
        .createServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
    Thread echo = new Thread(() -> {
      while (!listening.isClosed()) {
        try (Socket s = listening.accept()) {
          java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
              java.nio.charset.StandardCharsets.UTF_8));
          String line = in.readLine();
          s.getOutputStream().write((line + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
          s.getOutputStream().flush();
        } catch (java.io.IOException e) {
          // the next connection, or the end of the test
        }
      }
    }, "echo");
    echo.setDaemon(true);
    echo.start();
    return listening;
  }

  private static String exchange(SSLContext client, int port) throws Exception {
    try (Socket raw = new Socket(java.net.InetAddress.getLoopbackAddress(), port);
        javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket) client.getSocketFactory().createSocket(raw, HOST, port,
            true)) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write("hello\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      return new java.io.BufferedReader(new java.io.InputStreamReader(s.getInputStream(),
          java.nio.charset.StandardCharsets.UTF_8)).readLine();
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {30, 7200})
  void sessionsLiveNoLongerThanTheContextsCertificateAndAtMostAnHour(int minutesLeft) {
    MtlsMaterial material = material(b -> b.commonName("orders").spiffe("shop", "orders")
        .validity(java.time.Instant.now().minus(Duration.ofMinutes(1)), Duration.ofMinutes(minutesLeft + 1)));
    SSLContext context = MtlsSslContexts.of(material);
    int expected = (int) Math.min(minutesLeft * 60L, 3600);
    assertThat(context.getServerSessionContext().getSessionTimeout()).isBetween(expected - 60, expected);
    assertThat(context.getClientSessionContext().getSessionTimeout()).isBetween(expected - 60, expected);
  }
}
