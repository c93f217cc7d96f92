package dev.kubemtls.servlet;

import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.MtlsSslContexts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.testing.RecordingTlsListener.Event;
import dev.kubemtls.core.testing.RecordingTlsListener.Outcome;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLParameters;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What a {@link TlsListener} hears from a real Jetty connector, Jetty client and
 * {@link MtlsPeerFilter}: one event per handshake and side, each failure class on the side that can
 * see it, and one event per refused request.
 */
class TlsListenerTest {

  private static TestCa ca;
  private static TrustBundle trust;

  @BeforeAll
  static void pki() {
    ca = TestCa.create("kube-mtls test CA");
    trust = Pki.bundle("test/bundle@1", ca);
  }

  private static MaterialPublisher source(TlsIdentity identity) {
    return new MaterialPublisher(new MtlsMaterial(identity, trust, 1));
  }

  private static MaterialPublisher serverSource() {
    return source(Pki.identity(ca, 1, "payments", "api"));
  }

  private static MaterialPublisher clientSource() {
    return source(Pki.identity(ca, 1, "billing", "invoicer"));
  }

  /** A CA with the trusted CA's name and its own key: clients offer its certificates anyway. */
  private static TestCa impostor() {
    return TestCa.create("kube-mtls test CA");
  }

  private static TlsIdentity expired(String namespace, String serviceAccount) {
    return Pki.identity(ca, 1, leaf -> leaf.spiffe(namespace, serviceAccount)
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
  }

  private static TestServer server(MaterialPublisher source, TlsListener listener) throws Exception {
    return new TestServer(source, b -> b.listener(listener), null);
  }

  private static RecordingClient client(MaterialPublisher source, TlsListener listener) throws Exception {
    return new RecordingClient(source, null, b -> b.listener(listener));
  }


  /** A Jetty client's call to a Jetty server, each with its own listener: their only events. */
  private record Outcomes(Event server, Event client, Optional<ContentResponse> response) {}

  private static Outcomes call(MaterialPublisher serverSource, MaterialPublisher clientSource)
      throws Exception {
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    Optional<ContentResponse> response;
    Event server;
    Event client;
    try (TestServer s = server(serverSource, serverEvents);
        RecordingClient c = client(clientSource, clientEvents)) {
      try {
        response = Optional.of(c.get(s.uri("/hello"), true));
      } catch (ExecutionException e) {
        response = Optional.empty();
      }
      server = serverEvents.next();
      client = clientEvents.next();
    }
    // Both ends have stopped: nothing more can be reported.
    assertThat(serverEvents.all()).as("server events").containsExactly(server);
    assertThat(clientEvents.all()).as("client events").containsExactly(client);
    return new Outcomes(server, client, response);
  }

  @Test
  void successIsReportedOnceOnEachSideWithProtocolSuiteAndPeer() throws Exception {
    Outcomes o = call(serverSource(), clientSource());

    assertThat(o.response()).hasValueSatisfying(r -> assertThat(r.getStatus()).isEqualTo(200));
    assertThat(o.server().assertSucceeded(Side.SERVER, "TLSv1.3"))
        .contains("spiffe://cluster.local/ns/billing/sa/invoicer");
    assertThat(o.client().assertSucceeded(Side.CLIENT, "TLSv1.3"))
        .contains("spiffe://cluster.local/ns/payments/sa/api");
    assertThat(o.client().peer().map(PeerIdentity::ipAddresses)).contains(List.of("127.0.0.1"));
    assertThat(o.server().cipherSuite()).isIn(TlsPolicy.defaults().cipherSuites())
        .isEqualTo(o.client().cipherSuite());
  }

  @Test
  void clientWithoutCertificateIsReportedByTheServer() throws Exception {
    assertEveryConnectionFailsOnTheServer(JdkClients.client(JdkClients.withoutCertificate(trust)),
        HandshakeFailure.NO_PEER_CERTIFICATE);
  }

  /**
   * Calls a server with a JDK client that the TLS layer refuses. The JDK client retries a failed GET
   * on a new connection, so the server's listener must report {@code reason} once per connection
   * that Jetty's own handshake listener saw fail.
   */
  private static void assertEveryConnectionFailsOnTheServer(java.net.http.HttpClient client,
      HandshakeFailure reason) throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    List<Throwable> failedConnections;
    try (TestServer server = server(serverSource(), events)) {
      assertThatThrownBy(() -> JdkClients.get(client, server.uri("/hello"))).isInstanceOf(IOException.class);
      events.next().assertFailed(Side.SERVER, reason);
      failedConnections = server.handshakeFailures;
    }
    assertThat(events.all()).hasSize(failedConnections.size())
        .allSatisfy(e -> e.assertFailed(Side.SERVER, reason));
  }

  @Test
  void untrustedCertificatesAreReportedByTheSideThatVerifiesThem() throws Exception {
    TestCa impostor = impostor();
    Outcomes badClient = call(serverSource(), source(Pki.identity(impostor, 1, "billing", "invoicer")));
    badClient.server().assertFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER);
    // TLS 1.3: the client finished its side before the server refused it.
    assertThat(badClient.client().outcome()).isEqualTo(Outcome.SUCCEEDED);
    assertThat(badClient.response()).isEmpty();

    Outcomes badServer = call(source(Pki.identity(impostor, 1, "payments", "api")), clientSource());
    badServer.client().assertFailed(Side.CLIENT, HandshakeFailure.UNTRUSTED_PEER);
    badServer.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
  }

  @Test
  void expiredCertificatesAreReportedByTheSideThatVerifiesThem() throws Exception {
    Outcomes oldClient = call(serverSource(), source(expired("billing", "invoicer")));
    oldClient.server().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
    assertThat(oldClient.client().outcome()).isEqualTo(Outcome.SUCCEEDED);

    Outcomes oldServer = call(source(expired("payments", "api")), clientSource());
    oldServer.client().assertFailed(Side.CLIENT, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
    oldServer.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
  }

  @Test
  void serverWithoutTheDialledAddressIsAHostnameMismatchForTheClient() throws Exception {
    KeyPair keys = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(keys.getPublic()).dns("payments.svc").spiffe("payments", "api").build();
    Outcomes o = call(source(new TlsIdentity(keys.getPrivate(), List.of(leaf), 1)), clientSource());

    o.client().assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH);
    o.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
    assertThat(o.response()).isEmpty();
  }

  @Test
  void clientWithoutACommonCipherIsAProtocolFailure() throws Exception {
    SSLParameters cbc = MtlsSslContexts.sslParameters();
    cbc.setProtocols(new String[] {"TLSv1.2"});
    cbc.setCipherSuites(new String[] {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"});
    assertEveryConnectionFailsOnTheServer(
        JdkClients.client(MtlsSslContexts.of(clientSource().current()), cbc), HandshakeFailure.PROTOCOL);
  }

  @Test
  void connectionClosedDuringTheHandshakeIsOther() throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer server = server(serverSource(), events)) {
      try (Socket socket = new Socket("127.0.0.1", server.connector.getLocalPort())) {
        OutputStream out = socket.getOutputStream();
        // The first bytes of a TLS record header, then the client goes away.
        out.write(new byte[] {0x16, 0x03, 0x01});
        out.flush();
      }
      events.next().assertFailed(Side.SERVER, HandshakeFailure.OTHER);
    }
    assertThat(events.all()).hasSize(1);
  }

  @Test
  void filterReportsEachRefusedRequest() throws Exception {
    RecordingTlsListener connectorEvents = new RecordingTlsListener();
    RecordingTlsListener filterEvents = new RecordingTlsListener();
    MtlsPeerFilter filter = MtlsPeerFilter.builder()
        .policy(PeerPolicy.builder().allowNamespace("billing").build()).listener(filterEvents).build();
    MaterialPublisher stranger = source(Pki.identity(ca, 1, "sandbox", "intruder"));
    int handshakes;
    try (TestServer server = new TestServer(serverSource(),
            b -> b.policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)).listener(connectorEvents), new FilterHolder(filter));
        RecordingClient strangerClient = new RecordingClient(stranger);
        RecordingClient friendClient = new RecordingClient(clientSource())) {
      assertThat(strangerClient.get(server.uri("/a"), false).getStatus()).isEqualTo(403);
      assertThat(strangerClient.get(server.uri("/b"), false).getStatus()).isEqualTo(403);
      assertThat(friendClient.get(server.uri("/c"), false).getStatus()).isEqualTo(200);
      assertThat(JdkClients.get(JdkClients.client(JdkClients.withoutCertificate(trust)), server.uri("/d"))
          .statusCode()).isEqualTo(403);

      Event first = filterEvents.next();
      assertThat(first.outcome()).isEqualTo(Outcome.REFUSED);
      assertThat(first.reason()).isEqualTo(HandshakeFailure.PEER_NOT_ALLOWED);
      assertThat(first.peer().flatMap(PeerIdentity::spiffeId))
          .contains("spiffe://cluster.local/ns/sandbox/sa/intruder");
      assertThat(first.cause())
          .hasMessage("peer spiffe://cluster.local/ns/sandbox/sa/intruder is not in the allow-list");
      assertThat(filterEvents.next().reason()).isEqualTo(HandshakeFailure.PEER_NOT_ALLOWED);
      Event anonymous = filterEvents.next();
      assertThat(anonymous.reason()).isEqualTo(HandshakeFailure.NO_PEER_CERTIFICATE);
      assertThat(anonymous.peer()).isEmpty();
      // Each connection's handshake succeeded (the JDK client's without identity): refusals are
      // per request.
      handshakes = strangerClient.handshakes.get() + friendClient.handshakes.get() + 1;
      for (int i = 0; i < handshakes; i++) {
        assertThat(connectorEvents.next().outcome()).isEqualTo(Outcome.SUCCEEDED);
      }
      assertThat(connectorEvents.all()).filteredOn(e -> e.peer().isEmpty()).hasSize(1);
    }
    assertThat(filterEvents.all()).hasSize(3);
    assertThat(connectorEvents.all()).hasSize(handshakes);
  }

  @Test
  void listenersThatThrowDoNotBreakConnectionsOrRequests() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    TlsListener broken = new TlsListener() {
      @Override
      public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol,
          String cipherSuite, Duration took) {
        calls.incrementAndGet();
        throw new IllegalStateException("metrics backend down");
      }

      @Override
      public void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {
        calls.incrementAndGet();
        throw new IllegalStateException("metrics backend down");
      }
    };
    MtlsPeerFilter filter = MtlsPeerFilter.builder()
        .policy(PeerPolicy.builder().allowNamespace("billing").build()).listener(broken).build();
    try (TestServer server = new TestServer(serverSource(), b -> b.listener(broken),
            new FilterHolder(filter));
        RecordingClient friend = client(clientSource(), broken);
        RecordingClient stranger = client(source(Pki.identity(ca, 1, "sandbox", "intruder")), broken)) {
      ContentResponse allowed = friend.get(server.uri("/ok"), false);
      assertThat(allowed.getStatus()).isEqualTo(200);
      assertThat(allowed.getContentAsString())
          .startsWith("spiffe=spiffe://cluster.local/ns/billing/sa/invoicer");
      assertThat(friend.get(server.uri("/again"), false).getStatus()).isEqualTo(200);
      ContentResponse refused = stranger.get(server.uri("/no"), false);
      assertThat(refused.getStatus()).isEqualTo(403);
      assertThat(refused.getContentAsString()).contains("is not in the allow-list");
      // Every handshake, seen from both ends, and the refused request.
      assertThat(calls).hasValue(2 * (friend.handshakes.get() + stranger.handshakes.get()) + 1);
      assertThat(server.handshakeFailures).isEmpty();
    }
  }

  @Test
  void listenerMustNotBeNull() {
    MaterialPublisher ok = serverSource();
    assertThatThrownBy(() -> JettyMtls.forServer(ok).listener(null))
        .isInstanceOf(NullPointerException.class).hasMessage("listener");
    assertThatThrownBy(() -> JettyMtls.forClient(ok).listener(null))
        .isInstanceOf(NullPointerException.class).hasMessage("listener");
    assertThatThrownBy(() -> MtlsPeerFilter.builder().listener(null))
        .isInstanceOf(NullPointerException.class).hasMessage("listener");
  }
}
