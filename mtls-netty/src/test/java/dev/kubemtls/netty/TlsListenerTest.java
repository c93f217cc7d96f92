package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.testing.RecordingTlsListener.Event;
import dev.kubemtls.core.testing.RecordingTlsListener.Outcome;
import dev.kubemtls.testkit.TestCa;
import io.netty.channel.Channel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What a {@link TlsListener} hears from real handshakes on loopback with both providers: one event
 * per connection and side, and each failure class on the side that can see it.
 */
class TlsListenerTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  /** Copies the trusted CA's name with its own key, so a client offers its certificate anyway. */
  private static final TestCa IMPOSTOR = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = Pki.trust("test@1", CA);
  private static final String SERVER_NAME = "orders.shop.svc";
  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  private static MaterialPublisher source(TlsIdentity identity) {
    return new MaterialPublisher(new MtlsMaterial(identity, TRUST, 1));
  }

  private static TlsIdentity expired(UnaryOperator<TestCa.LeafBuilder> names) {
    return Pki.identity(CA, 1, b -> names.apply(b)
        .validity(Instant.now().minus(Duration.ofHours(2)), Duration.ofHours(1)));
  }

  /** The two ends' only events for one connection between a ServerTls and a ClientTls. */
  private record Outcomes(Event server, Event client) {}

  private static Outcomes connect(TlsProvider provider, TlsIdentity serverId, TlsIdentity clientId,
      String dial, UnaryOperator<ServerTls.Builder> serverOptions,
      UnaryOperator<ClientTls.Builder> clientOptions) throws Exception {
    RecordingTlsListener serverSide = new RecordingTlsListener();
    RecordingTlsListener clientSide = new RecordingTlsListener();
    try (ServerTls serverTls = serverOptions.apply(NettyMtls.forServer(source(serverId))
            .provider(provider).listener(serverSide)).build();
        ClientTls clientTls = clientOptions.apply(NettyMtls.forClient(source(clientId))
            .provider(provider).listener(clientSide)).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named(dial, server.port()))) {
      Event client = clientSide.next();
      Event server1 = serverSide.next();
      conn.close();
      settle(conn.channel);
      settle(child(server));
      assertThat(serverSide.all()).as("server events").containsExactly(server1);
      assertThat(clientSide.all()).as("client events").containsExactly(client);
      return new Outcomes(server1, client);
    }
  }

  private static Outcomes connect(TlsProvider provider, TlsIdentity serverId, TlsIdentity clientId,
      String dial) throws Exception {
    return connect(provider, serverId, clientId, dial, b -> b, b -> b);
  }

  private static Channel child(Echo.Server server) throws InterruptedException {
    Channel child = server.children.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    assertThat(child).as("accepted connection").isNotNull();
    return child;
  }

  /**
   * Waits until {@code channel} has closed and its pipeline has seen it, so that every event the
   * connection can cause has been reported: the inactive event runs in a task the close queues on
   * the event loop, so two hops through the loop come after it.
   */
  private static void settle(Channel channel) throws Exception {
    assertThat(channel.closeFuture().await(Echo.TIMEOUT.toMillis())).as("closed").isTrue();
    channel.eventLoop().submit(() -> channel.eventLoop().submit(() -> { }))
        .get(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .get(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }


  /** The server's only event for a connection from a client made by {@code client}. */
  private static Event serverEvent(TlsProvider provider, UnaryOperator<ServerTls.Builder> options,
      ThrowingConsumer<Echo.Server> client) throws Exception {
    RecordingTlsListener serverSide = new RecordingTlsListener();
    try (ServerTls serverTls = options.apply(NettyMtls.forServer(source(Pki.server(CA, 1)))
            .provider(provider).listener(serverSide)).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls)) {
      client.accept(server);
      Event event = serverSide.next();
      Channel child = child(server);
      child.close();
      settle(child);
      assertThat(serverSide.all()).containsExactly(event);
      return event;
    }
  }

  private static Event serverEventForPlainClient(TlsProvider provider,
      UnaryOperator<ServerTls.Builder> options, SslContext client) throws Exception {
    return serverEvent(provider, options, server -> {
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), Echo.named(SERVER_NAME, server.port()),
          ch -> client.newHandler(ch.alloc(), SERVER_NAME, server.port()))) {
        conn.request("hello");
      }
    });
  }

  /** Sends {@code bytes} over plain TCP, then waits for the server to hang up, or hangs up itself. */
  private static Event serverEventForRawBytes(TlsProvider provider, byte[] bytes, boolean serverHangsUp)
      throws Exception {
    return serverEvent(provider, b -> b, server -> {
      try (Socket socket = new Socket("127.0.0.1", server.port())) {
        OutputStream out = socket.getOutputStream();
        out.write(bytes);
        out.flush();
        if (serverHangsUp) {
          socket.setSoTimeout((int) Echo.TIMEOUT.toMillis());
          while (socket.getInputStream().read() >= 0) {
            // discard whatever the server answers until it closes
          }
        }
      }
    });
  }

  private static SslProvider nettyProvider(TlsProvider provider) {
    return provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL;
  }

  @FunctionalInterface
  private interface ThrowingConsumer<T> {
    void accept(T value) throws Exception;
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void successIsReportedOnceOnEachSideWithProtocolSuiteAndPeer(TlsProvider provider) throws Exception {
    Outcomes o = connect(provider, Pki.server(CA, 1), Pki.client(CA, 1), SERVER_NAME);

    assertThat(o.server().assertSucceeded(Side.SERVER, "TLSv1.3"))
        .contains("spiffe://cluster.local/ns/shop/sa/web");
    assertThat(o.client().assertSucceeded(Side.CLIENT, "TLSv1.3"))
        .contains("spiffe://cluster.local/ns/shop/sa/orders");
    assertThat(o.client().peer().map(PeerIdentity::dnsNames)).contains(List.of(SERVER_NAME));
    assertThat(o.server().cipherSuite()).isIn(TlsPolicy.defaults().cipherSuites()).isEqualTo(o.client().cipherSuite());
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientWithoutCertificateIsReportedByTheServer(TlsProvider provider) throws Exception {
    SslContext noCert = SslContextBuilder.forClient().sslProvider(nettyProvider(provider))
        .trustManager(CA.certificate()).protocols("TLSv1.3").build();

    // REQUIRE: the TLS stack refuses it; with TLS 1.3 only the server can tell.
    serverEventForPlainClient(provider, b -> b, noCert)
        .assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
    // OPTIONAL with an allow-list: the allow-list needs an identity, so the TLS stack asks for it
    // and refuses the client with an alert, as under REQUIRE.
    Event refused = serverEventForPlainClient(provider, b -> b.policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL))
        .peerPolicy(PeerPolicy.builder().allowNamespace("shop").build()), noCert);
    refused.assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
    // OPTIONAL and allow-all: a success without identity.
    Event anonymous = serverEventForPlainClient(provider, b -> b.policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)), noCert);
    assertThat(anonymous.outcome()).isEqualTo(Outcome.SUCCEEDED);
    assertThat(anonymous.peer()).isEmpty();
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void untrustedCertificatesAreReportedByTheSideThatVerifiesThem(TlsProvider provider) throws Exception {
    Outcomes badClient = connect(provider, Pki.server(CA, 1), Pki.client(IMPOSTOR, 1), SERVER_NAME);
    badClient.server().assertFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER);
    assertThat(badClient.server().cause()).isInstanceOf(SSLHandshakeException.class);
    // TLS 1.3: the client finished its side before the server refused it.
    assertThat(badClient.client().outcome()).isEqualTo(Outcome.SUCCEEDED);

    Outcomes badServer = connect(provider, Pki.server(IMPOSTOR, 1), Pki.client(CA, 1), SERVER_NAME);
    badServer.client().assertFailed(Side.CLIENT, HandshakeFailure.UNTRUSTED_PEER);
    badServer.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void expiredCertificatesAreReportedByTheSideThatVerifiesThem(TlsProvider provider) throws Exception {
    Outcomes oldClient = connect(provider, Pki.server(CA, 1), expired(b -> b.spiffe("shop", "web")),
        SERVER_NAME);
    oldClient.server().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
    assertThat(oldClient.client().outcome()).isEqualTo(Outcome.SUCCEEDED);

    Outcomes oldServer = connect(provider, expired(b -> b.dns(SERVER_NAME)), Pki.client(CA, 1),
        SERVER_NAME);
    oldServer.client().assertFailed(Side.CLIENT, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
    oldServer.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void serverWithoutTheDialledNameIsAHostnameMismatchForTheClient(TlsProvider provider) throws Exception {
    Outcomes o = connect(provider, Pki.server(CA, 1), Pki.client(CA, 1), "billing.shop.svc");

    o.client().assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH);
    o.server().assertFailed(Side.SERVER, HandshakeFailure.REJECTED_BY_PEER);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void allowListRefusalsArePeerNotAllowed(TlsProvider provider) throws Exception {
    PeerPolicy onlyPayments = PeerPolicy.builder().allowNamespace("payments").build();
    Outcomes byServer = connect(provider, Pki.server(CA, 1), Pki.client(CA, 1), SERVER_NAME,
        b -> b.peerPolicy(onlyPayments), b -> b);
    byServer.server().assertFailed(Side.SERVER, HandshakeFailure.PEER_NOT_ALLOWED);
    assertThat(byServer.server().cause()).isInstanceOf(PeerRejectedException.class)
        .hasMessageContaining("spiffe://cluster.local/ns/shop/sa/web");
    assertThat(byServer.client().outcome()).isEqualTo(Outcome.SUCCEEDED);

    RecordingTlsListener clientSide = new RecordingTlsListener();
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider).build();
        ClientTls clientTls = NettyMtls.forClient(source(Pki.client(CA, 1))).provider(provider)
            .peerPolicy(onlyPayments).listener(clientSide).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named(SERVER_NAME, server.port()))) {
      clientSide.next().assertFailed(Side.CLIENT, HandshakeFailure.PEER_NOT_ALLOWED);
      settle(conn.channel);
      assertThat(clientSide.all()).hasSize(1);
    }

    TlsIdentity twoFaces = Pki.identity(CA, 1, b -> b.spiffe("shop", "web").spiffe("kube-system", "admin"));
    Outcomes ambiguous = connect(provider, Pki.server(CA, 1), twoFaces, SERVER_NAME);
    ambiguous.server().assertFailed(Side.SERVER, HandshakeFailure.PEER_NOT_ALLOWED);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientWithoutACommonCipherOrTlsAtAllIsAProtocolFailure(TlsProvider provider) throws Exception {
    TlsIdentity client = Pki.client(CA, 1);
    SslContext cbcOnly = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
        .keyManager(client.privateKey(), client.chain()).trustManager(CA.certificate())
        .protocols("TLSv1.2").ciphers(List.of("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256")).build();
    serverEventForPlainClient(provider, b -> b, cbcOnly).assertFailed(Side.SERVER, HandshakeFailure.PROTOCOL);

    byte[] plainHttp = "GET / HTTP/1.1\r\nHost: orders\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    serverEventForRawBytes(provider, plainHttp, true)
        .assertFailed(Side.SERVER, HandshakeFailure.PROTOCOL);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void connectionClosedDuringTheHandshakeIsOther(TlsProvider provider) throws Exception {
    // The first bytes of a TLS record header, then the client goes away.
    byte[] truncated = {0x16, 0x03, 0x01};
    serverEventForRawBytes(provider, truncated, false).assertFailed(Side.SERVER, HandshakeFailure.OTHER);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void listenerThatThrowsDoesNotBreakTheConnection(TlsProvider provider) throws Exception {
    AtomicInteger calls = new AtomicInteger();
    TlsListener broken = new TlsListener() {
      @Override
      public void handshakeSucceeded(Side side, java.util.Optional<PeerIdentity> peer, String protocol,
          String cipherSuite, Duration took) {
        calls.incrementAndGet();
        throw new IllegalStateException("metrics backend down");
      }
    };
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider)
            .listener(broken).build();
        ClientTls clientTls = NettyMtls.forClient(source(Pki.client(CA, 1))).provider(provider)
            .listener(broken).build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named(SERVER_NAME, server.port()))) {
      assertThat(conn.request("still here")).isEqualTo("still here");
      assertThat(conn.peer().isSuccess()).isTrue();
      assertThat(server.nextPeer().isSuccess()).isTrue();
      assertThat(calls).hasValue(2);
      assertThat(conn.errors).isEmpty();
    }
  }

  @Test
  void listenerMustNotBeNull() {
    MaterialPublisher ok = source(Pki.server(CA, 1));
    assertThatThrownBy(() -> NettyMtls.forServer(ok).listener(null))
        .isInstanceOf(NullPointerException.class).hasMessage("listener");
    assertThatThrownBy(() -> NettyMtls.forClient(ok).listener(null))
        .isInstanceOf(NullPointerException.class).hasMessage("listener");
  }
}
