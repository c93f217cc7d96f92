package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.TestCa;
import io.netty.util.ReferenceCounted;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What a peer that is not kube-mtls sees of a Netty server, with both providers: the policy's
 * signature schemes, the default peer policy, the alert a refused certificate gets, the time before
 * the first material, and what a dropped handle leaves behind. (The policy's groups on both
 * protocols: {@code TlsConformanceSuite.onlyThePolicysGroupsAreNegotiated} in
 * {@link NettyOpenSslConformanceTest} and {@link NettyJdkConformanceTest}.)
 */
class OutsidePeerTest {

  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TestCa FOREIGN = TestCa.create("some other CA");
  private static final TrustBundle TRUST = Pki.trust("test@1", CA);
  private static final List<java.security.cert.X509Certificate> TRUSTED = List.of(CA.certificate());

  private static MaterialPublisher source(TlsIdentity identity) {
    return new MaterialPublisher(new MtlsMaterial(identity, TRUST, 1));
  }

  private static ServerTls server(TlsProvider provider, RecordingTlsListener events) {
    return NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider).listener(events).build();
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientLimitedToSha1SignaturesIsRefused(TlsProvider provider) throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    try (ServerTls tls = server(provider, events); Echo.Server server = new Echo.Server(LOOPS.group(), tls)) {
      OutsidePeer peer = new OutsidePeer(Pki.client(CA, 1), TRUSTED).protocols("TLSv1.2");
      // The same probe without the restriction gets in, so the refusal is the signature schemes'.
      assertThat(peer.exchange(server.port(), "hello\n").firstLine()).isEqualTo("hello");
      events.next().assertSucceeded(Side.SERVER, "TLSv1.2");

      OutsidePeer.Result sha1 = new OutsidePeer(Pki.client(CA, 1), TRUSTED).protocols("TLSv1.2")
          .onlySignatureSchemes("ecdsa_sha1", "rsa_pkcs1_sha1").exchange(server.port(), "hello\n");
      assertThat(sha1.succeeded()).as(sha1.toString()).isFalse();
      // The JDK finds no scheme to sign with; with BoringSSL the server offers no certificate to a
      // client that accepts no signature without SHA-1.
      events.next().assertFailed(Side.SERVER, HandshakeFailure.PROTOCOL);
    }
  }

  /**
   * The probe of the outside audit: a TLS 1.2 client without a certificate, on a server that does
   * not require one, offering only SHA-1 signature schemes. Before, BoringSSL signed its key exchange
   * with ECDSA-SHA1 and the handshake succeeded; now no server signs with SHA-1 and the handshake
   * fails, while the same probe offering SHA-256 gets in.
   */
  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void noServerSignsWithSha1EvenForAClientThatOffersNothingElse(TlsProvider provider) throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    try (ServerTls tls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider).listener(events)
            .policy(dev.kubemtls.core.tls.TlsPolicy.defaults().withClientAuth(dev.kubemtls.core.tls.ClientAuth.OPTIONAL))
            .peerPolicy(dev.kubemtls.core.peer.PeerPolicy.allowAll()).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), tls)) {
      OutsidePeer.Result sha256 = new OutsidePeer(null, TRUSTED).protocols("TLSv1.2")
          .onlySignatureSchemes("ecdsa_secp256r1_sha256").exchange(server.port(), "hello\n");
      assertThat(sha256.firstLine()).as(sha256.toString()).isEqualTo("hello");
      events.next().assertSucceeded(Side.SERVER, "TLSv1.2");

      for (String[] offered : new String[][] {{"ecdsa_sha1"}, {"ecdsa_sha1", "rsa_pkcs1_sha1"}}) {
        OutsidePeer.Result sha1 = new OutsidePeer(null, TRUSTED).protocols("TLSv1.2")
            .onlySignatureSchemes(offered).exchange(server.port(), "hello\n");
        assertThat(sha1.succeeded()).as(sha1.toString()).isFalse();
        events.next().assertFailed(Side.SERVER, HandshakeFailure.PROTOCOL);
      }
    }
  }

  /**
   * A server that does not require client certificates but has an allow-list refuses a client
   * without one with a TLS alert, not a bare close: the allow-list needs an identity, so the
   * handshake asks for the certificate.
   */
  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void anAllowListRefusesAClientWithoutACertificateWithAnAlert(TlsProvider provider) throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    try (ServerTls tls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider).listener(events)
            .policy(dev.kubemtls.core.tls.TlsPolicy.defaults().withClientAuth(dev.kubemtls.core.tls.ClientAuth.OPTIONAL))
            .peerPolicy(dev.kubemtls.core.peer.PeerPolicy.builder().allowNamespace("shop").build()).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), tls)) {
      // TLS 1.3: the client has sent its whole flight when the server's alert comes, and reads it
      // (an attempt whose alert a reset swallowed is repeated, as in expect()).
      OutsidePeer.Result r13 = null;
      for (int attempt = 0; attempt < OutsidePeer.REFUSAL_ATTEMPTS; attempt++) {
        r13 = new OutsidePeer(null, TRUSTED).protocols("TLSv1.3").refusal(server.port());
        events.next().assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
        if (!r13.resetInsteadOfAlert()) {
          break;
        }
      }
      assertThat(r13.alert()).as("TLSv1.3: " + r13).isIn("certificate_required", "handshake_failure", "bad_certificate");
      // TLS 1.2: the server refuses in the handshake as well, but a JDK client still writing its last
      // flight when the alert and the close come often meets a reset (broken pipe) before it reads
      // the alert, so only the refusal and the server's report are asserted.
      OutsidePeer.Result r12 = new OutsidePeer(null, TRUSTED).protocols("TLSv1.2").refusal(server.port());
      assertThat(r12.succeeded()).as("TLSv1.2: " + r12).isFalse();
      assertThat(r12.server()).as("refused before any application data: " + r12).isNull();
      events.next().assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
      // A client of the allowed namespace is served.
      assertThat(new OutsidePeer(Pki.client(CA, 1), TRUSTED).exchange(server.port(), "hello\n").firstLine())
          .isEqualTo("hello");
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aTrustedCertificateWithoutSpiffeIdIsRefusedByDefault(TlsProvider provider) throws Exception {
    TlsIdentity legacy = Pki.identity(CA, 1, b -> b.commonName("legacy").dns("legacy.shop.svc"));
    RecordingTlsListener events = new RecordingTlsListener();
    try (ServerTls tls = server(provider, events); Echo.Server server = new Echo.Server(LOOPS.group(), tls)) {
      // Refused in the handshake, with an alert (before, the connection was just closed). Probed
      // with TLS 1.3, where the client reads the alert after its side of the handshake; a TLS 1.2
      // JDK socket client is still writing its flight when the server closes, and sees a broken
      // pipe instead (openssl s_client -tls1_2 shows the same alert there).
      for (String protocol : new String[] {"TLSv1.3"}) {
        // The server may close while the client still writes its flight, which the client sees as
        // a reset instead of the alert; such an attempt is repeated, as in expect().
        OutsidePeer.Result r = null;
        for (int attempt = 0; attempt < OutsidePeer.REFUSAL_ATTEMPTS; attempt++) {
          r = new OutsidePeer(legacy, TRUSTED).protocols(protocol).refusal(server.port());
          assertThat(events.next().assertFailed(Side.SERVER, HandshakeFailure.PEER_NOT_ALLOWED).cause())
              .hasStackTraceContaining("has no SPIFFE ID");
          if (!r.resetInsteadOfAlert()) {
            break;
          }
        }
        assertThat(r.alert()).as(protocol + ": " + r)
            .isEqualTo(provider == TlsProvider.OPENSSL ? "bad_certificate" : "certificate_unknown");
      }
    }
    // And a client refuses such a server.
    MaterialPublisher legacyServer = source(Pki.identity(CA, 1,
        b -> b.commonName("legacy").dns("orders.shop.svc")));
    try (ServerTls tls = NettyMtls.forServer(legacyServer).provider(provider).build();
        ClientTls client = NettyMtls.forClient(source(Pki.client(CA, 1))).provider(provider).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), tls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isNull();
      // Refused in the handshake by the client's trust manager (so the server gets an alert), and
      // still a PeerRejectedException for the application.
      assertThat(NettyMtls.peerFuture(conn.channel).await().cause()).isInstanceOf(PeerRejectedException.class)
          .hasMessageContaining("has no SPIFFE ID").hasCauseInstanceOf(javax.net.ssl.SSLHandshakeException.class);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aRefusedClientCertificateGetsTheAlertOfItsCause(TlsProvider provider) throws Exception {
    // An end-entity certificate signed with its own key: subject and issuer are the same name.
    TestCa self = TestCa.create("web");
    TlsIdentity selfSigned = new TlsIdentity(self.keyPair().getPrivate(), List.of(
        self.leaf(self.keyPair().getPublic()).commonName("web").spiffe("shop", "web").build()), 1);
    TlsIdentity foreign = Pki.client(FOREIGN, 1);
    TlsIdentity expired = Pki.identity(CA, 1, b -> b.commonName("web").spiffe("shop", "web")
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
    TlsIdentity forged = Pki.client(TestCa.create("kube-mtls test CA"), 1);
    boolean openSsl = provider == TlsProvider.OPENSSL;
    RecordingTlsListener events = new RecordingTlsListener();
    try (ServerTls tls = server(provider, events); Echo.Server server = new Echo.Server(LOOPS.group(), tls)) {
      // OpenSSL sends the alert of the cause; the JDK sends certificate_unknown for every refusal.
      expect(server, events, foreign, openSsl ? "unknown_ca" : "certificate_unknown",
          HandshakeFailure.UNTRUSTED_PEER, "was issued by a CA that is not in the trust bundle");
      expect(server, events, selfSigned, openSsl ? "unknown_ca" : "certificate_unknown",
          HandshakeFailure.UNTRUSTED_PEER, "is self-signed");
      expect(server, events, expired, openSsl ? "certificate_expired" : "certificate_unknown",
          HandshakeFailure.EXPIRED_PEER_CERTIFICATE, "has expired");
      expect(server, events, forged, openSsl ? "bad_certificate" : "certificate_unknown",
          HandshakeFailure.UNTRUSTED_PEER, "its signature does not verify");
    }
  }

  /**
   * Probes with TLS 1.3, where the client reads the alert after its side of the handshake. The JDK
   * server may close while the client is still writing its last handshake records, which the client
   * sees as a reset instead of the alert; such an attempt is repeated (each one is a real refusal
   * the server reports).
   */
  private static void expect(Echo.Server server, RecordingTlsListener events, TlsIdentity client,
      String alert, HandshakeFailure reported, String explained) throws Exception {
    OutsidePeer.Result r = null;
    for (int attempt = 0; attempt < OutsidePeer.REFUSAL_ATTEMPTS; attempt++) {
      r = new OutsidePeer(client, TRUSTED).protocols("TLSv1.3").refusal(server.port());
      assertThat(events.next().assertFailed(Side.SERVER, reported).cause()).hasStackTraceContaining(explained);
      if (!r.resetInsteadOfAlert()) {
        break;
      }
    }
    assertThat(r.alert()).as(r.toString()).isEqualTo(alert);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void beforeTheFirstMaterialConnectionsAreRefusedAndTheFirstSnapshotIsUsedAtOnce(TlsProvider provider)
      throws Exception {
    MaterialPublisher serverSource = new MaterialPublisher();
    MaterialPublisher clientSource = new MaterialPublisher();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).provider(provider).build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).provider(provider).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls)) {
      assertThat(serverTls.generation()).isZero();
      assertThat(new OutsidePeer(Pki.client(CA, 1), TRUSTED).exchange(server.port(), "early\n").succeeded())
          .isFalse();
      assertThatThrownBy(() -> Echo.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port())))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("no usable TLS material yet");

      serverSource.publish(new MtlsMaterial(Pki.server(CA, 1), TRUST, 1));
      clientSource.publish(new MtlsMaterial(Pki.client(CA, 1), TRUST, 1));
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()))) {
        assertThat(conn.request("now")).isEqualTo("now");
      }
      assertThat(serverTls.generation()).isEqualTo(1);
    }
  }

  @Test
  void aDroppedHandleFreesItsContextAndStopsFollowingTheSource() throws Exception {
    CountingSource source = new CountingSource(source(Pki.server(CA, 1)));
    ServerTls tls = NettyMtls.forServer(source).provider(TlsProvider.OPENSSL).build();
    ReferenceCounted context = (ReferenceCounted) tls.currentContext();
    WeakReference<ServerTls> handle = new WeakReference<>(tls);
    // The context cache and the connection bound follow the source.
    assertThat(source.active).hasValue(2);
    assertThat(context.refCnt()).isEqualTo(1);
    tls = null;

    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> {
      System.gc();
      return handle.get() == null && context.refCnt() == 0 && source.active.get() == 0;
    });
  }

  /** A real source that counts its open subscriptions. */
  static final class CountingSource implements MaterialSource {
    final MaterialSource delegate;
    final AtomicInteger active = new AtomicInteger();

    CountingSource(MaterialSource delegate) {
      this.delegate = delegate;
    }

    @Override
    public MtlsMaterial current() {
      return delegate.current();
    }

    @Override
    public Optional<MtlsMaterial> currentIfReady() {
      return delegate.currentIfReady();
    }

    @Override
    public Subscription subscribe(MaterialListener listener) {
      Subscription inner = delegate.subscribe(listener);
      active.incrementAndGet();
      boolean[] closed = {false};
      return () -> {
        synchronized (closed) {
          if (!closed[0]) {
            closed[0] = true;
            active.decrementAndGet();
            inner.close();
          }
        }
      };
    }
  }
}
