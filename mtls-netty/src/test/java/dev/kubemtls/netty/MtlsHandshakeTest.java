package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.X509ExtendedKeyManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Real handshakes on loopback with both providers: who gets in, who sees what, where failures show. */
class MtlsHandshakeTest {

  private static final TlsPolicy OPTIONAL = TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL);

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TestCa OTHER_CA = TestCa.create("some other CA");
  private static final TrustBundle TRUST = Pki.trust("test@1", CA);
  private static EventLoopGroup group;

  @BeforeAll
  static void start() {
    group = Echo.group(2);
  }

  @AfterAll
  static void stop() throws InterruptedException {
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
  }

  private static MaterialPublisher source(TlsIdentity identity) {
    return new MaterialPublisher(new MtlsMaterial(identity, TRUST, 1));
  }

  private static ServerTls server(TlsProvider provider, TlsIdentity identity) {
    return NettyMtls.forServer(source(identity)).provider(provider).build();
  }

  private static ClientTls client(TlsProvider provider, MaterialSource source) {
    return NettyMtls.forClient(source).provider(provider).build();
  }

  private static Throwable rootCause(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t;
  }

  private static boolean chainHas(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void mutualHandshakeShowsEachSideTheOthersIdentity(TlsProvider provider) throws Exception {
    try (ServerTls serverTls = server(provider, Pki.server(CA, 1));
        ClientTls clientTls = client(provider, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(serverTls.provider()).isEqualTo(provider);
      assertThat(clientTls.provider()).isEqualTo(provider);

      PeerIdentity seenByClient = conn.peer().getNow();
      assertThat(seenByClient.spiffeId()).contains("spiffe://cluster.local/ns/shop/sa/orders");
      assertThat(seenByClient.namespace()).contains("shop");
      assertThat(seenByClient.serviceAccount()).contains("orders");
      assertThat(seenByClient.dnsNames()).containsExactly("orders.shop.svc");
      assertThat(seenByClient.ipAddresses()).containsExactly("127.0.0.1");
      assertThat(NettyMtls.peer(conn.channel)).contains(seenByClient);

      Future<PeerIdentity> serverSide = server.nextPeer();
      PeerIdentity seenByServer = serverSide.getNow();
      assertThat(seenByServer.spiffeId()).contains("spiffe://cluster.local/ns/shop/sa/web");
      assertThat(seenByServer.namespace()).contains("shop");
      assertThat(seenByServer.serviceAccount()).contains("web");
      assertThat(seenByServer.dnsNames()).containsExactly("web.shop.svc");
      assertThat(NettyMtls.peer(server.children.take())).contains(seenByServer);

      assertThat(conn.request("hello")).isEqualTo("hello");
      assertThat(conn.ssl().engine().getSession().getProtocol()).isEqualTo("TLSv1.3");
      assertThat(conn.events).contains(new PeerVerifiedEvent(Optional.of(seenByClient)));
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientDiallingAnIpAddressChecksTheIpSan(TlsProvider provider) throws Exception {
    try (ServerTls serverTls = server(provider, Pki.server(CA, 1));
        ClientTls clientTls = client(provider, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, new InetSocketAddress("127.0.0.1", server.port()))) {
      assertThat(conn.peer().isSuccess()).as("handshake by IP").isTrue();
      assertThat(conn.request("by ip")).isEqualTo("by ip");
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void serverWithoutTheDialledNameIsRefusedByTheClient(TlsProvider provider) throws Exception {
    TlsIdentity onlyDns = Pki.identity(CA, 1, b -> b.spiffe("shop", "orders").dns("orders.shop.svc"));
    try (ServerTls serverTls = server(provider, onlyDns);
        ClientTls clientTls = client(provider, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls)) {
      for (InetSocketAddress wrongName : List.of(Echo.named("billing.shop.svc", server.port()),
          new InetSocketAddress("127.0.0.1", server.port()))) {
        try (Echo.Conn conn = Echo.Conn.open(group, clientTls, wrongName)) {
          Future<PeerIdentity> peer = conn.peer();
          assertThat(peer.cause()).as("dialling %s", wrongName).isInstanceOf(SSLHandshakeException.class);
          assertThat(chainHas(peer.cause(), CertificateException.class)).isTrue();
          assertThat(rootCause(peer.cause()).getMessage()).containsIgnoringCase("No subject alternative");
          assertThat(server.nextPeer().isSuccess()).isFalse();
          await().atMost(Echo.TIMEOUT).until(() -> !conn.channel.isActive());
          assertThat(conn.responses).isEmpty();
        }
      }
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientWithoutCertificateIsRefusedAfterItsTls13HandshakeSucceeded(TlsProvider provider)
      throws Exception {
    SslContext noCert = SslContextBuilder.forClient()
        .sslProvider(provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL)
        .trustManager(CA.certificate()).protocols("TLSv1.3").build();
    try (ServerTls serverTls = server(provider, Pki.server(CA, 1));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, Echo.named("orders.shop.svc", server.port()),
            ch -> noCert.newHandler(ch.alloc(), "orders.shop.svc", server.port()))) {
      // TLS 1.3: the client finishes first, so its handshake succeeds...
      assertThat(conn.ssl().handshakeFuture().await().isSuccess()).isTrue();
      // ...the server refuses it...
      Future<PeerIdentity> serverSide = server.nextPeer();
      assertThat(serverSide.cause()).isInstanceOf(SSLHandshakeException.class);
      // ...and the client learns it on its next read: an alert, then the connection closes. The client
      // writes nothing before that: a write racing the server's close could meet a reset, which ends
      // the channel before it reads the alert.
      await().atMost(Echo.TIMEOUT).until(() -> !conn.channel.isActive());
      assertThat(conn.errors).anySatisfy(e -> assertThat(chainHas(e, SSLException.class)).isTrue());
      assertThat(conn.request("anyone there?")).isNull();
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientCertificateFromAnotherCaIsRefused(TlsProvider provider) throws Exception {
    assertServerRefusesTheClient(provider, Pki.client(OTHER_CA, 1));
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void expiredClientCertificateIsRefused(TlsProvider provider) throws Exception {
    TlsIdentity expired = Pki.identity(CA, 1, b -> b.spiffe("shop", "web")
        .validity(Instant.now().minus(Duration.ofHours(2)), Duration.ofHours(1)));
    assertServerRefusesTheClient(provider, expired);
  }

  private void assertServerRefusesTheClient(TlsProvider provider, TlsIdentity clientIdentity)
      throws Exception {
    try (ServerTls serverTls = server(provider, Pki.server(CA, 1));
        ClientTls clientTls = client(provider, source(clientIdentity));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      Future<PeerIdentity> serverSide = server.nextPeer();
      assertThat(serverSide.cause()).isInstanceOf(SSLHandshakeException.class);
      assertThat(NettyMtls.peer(server.children.take())).isEmpty();
      // The client verified the server, so it may believe the handshake went well (TLS 1.3); the
      // refusal reaches it as an alert on its next read, then the connection closes. The client writes
      // nothing before that: a write racing the server's close could meet a reset, which ends the
      // channel before it reads the alert.
      await().atMost(Echo.TIMEOUT).until(() -> !conn.channel.isActive());
      assertThat(conn.errors).anySatisfy(e -> assertThat(chainHas(e, SSLException.class)).isTrue());
      assertThat(conn.request("let me in")).isNull();
      assertThat(conn.responses).isEmpty();
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void clientOutsideTheAllowListIsDisconnectedWithAReason(TlsProvider provider) throws Exception {
    PeerPolicy onlyPayments = PeerPolicy.builder().allowNamespace("payments").build();
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider)
            .peerPolicy(onlyPayments).build();
        ClientTls clientTls = client(provider, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      Future<PeerIdentity> serverSide = server.nextPeer();
      assertThat(serverSide.cause()).isInstanceOf(PeerRejectedException.class);
      PeerRejectedException rejected = (PeerRejectedException) serverSide.cause();
      assertThat(rejected.peer().flatMap(PeerIdentity::spiffeId))
          .contains("spiffe://cluster.local/ns/shop/sa/web");
      assertThat(rejected.reason()).contains("not in the allow-list");
      assertThat(conn.peer().isSuccess()).as("the client trusted the server").isTrue();
      assertThat(conn.request("let me in")).isNull();
      await().atMost(Echo.TIMEOUT).until(() -> !conn.channel.isActive());
      assertThat(conn.responses).isEmpty();
    }
  }

  @Test
  void trustedClientCertificateNamingTwoIdentitiesIsRefused() throws Exception {
    TlsIdentity twoFaces = Pki.identity(CA, 1, b -> b.spiffe("shop", "web").spiffe("kube-system", "admin"));
    try (ServerTls serverTls = server(TlsProvider.AUTO, Pki.server(CA, 1));
        ClientTls clientTls = client(TlsProvider.AUTO, source(twoFaces));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(server.nextPeer().cause()).isInstanceOf(PeerRejectedException.class)
          .hasMessageContaining("exactly one");
      assertThat(conn.request("both of us")).isNull();
    }
  }

  @Test
  void clientAllowListRefusesAServerWithAnotherIdentity() throws Exception {
    PeerPolicy onlyBilling = PeerPolicy.builder()
        .allowSpiffeId("spiffe://cluster.local/ns/shop/sa/billing").build();
    try (ServerTls serverTls = server(TlsProvider.AUTO, Pki.server(CA, 1));
        ClientTls clientTls = NettyMtls.forClient(source(Pki.client(CA, 1))).peerPolicy(onlyBilling).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      // Written before the verdict: must never reach the refused server.
      io.netty.channel.ChannelFuture early = conn.channel.writeAndFlush("secret\n");
      assertThat(conn.peer().cause()).isInstanceOf(PeerRejectedException.class);
      assertThat(early.await().cause()).isInstanceOf(PeerRejectedException.class);
      await().atMost(Echo.TIMEOUT).until(() -> !conn.channel.isActive());
      assertThat(conn.responses).isEmpty();
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void optionalClientAuthLetsAnAnonymousClientInWithoutIdentity(TlsProvider provider) throws Exception {
    SslContext noCert = SslContextBuilder.forClient()
        .sslProvider(provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL)
        .trustManager(CA.certificate()).build();
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider)
            .policy(OPTIONAL).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, Echo.named("orders.shop.svc", server.port()),
            ch -> noCert.newHandler(ch.alloc(), "orders.shop.svc", server.port()))) {
      assertThat(conn.request("anonymous")).isEqualTo("anonymous");
      assertThat(server.nextPeer().cause()).isInstanceOf(SSLPeerUnverifiedException.class);
      assertThat(NettyMtls.peer(server.children.take())).isEmpty();
    }
  }

  @Test
  void optionalClientAuthWithAnAllowListStillRefusesAnonymousClients() throws Exception {
    SslContext noCert = SslContextBuilder.forClient().trustManager(CA.certificate()).build();
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1)))
            .policy(OPTIONAL)
            .peerPolicy(PeerPolicy.builder().allowNamespace("shop").build()).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, Echo.named("orders.shop.svc", server.port()),
            ch -> noCert.newHandler(ch.alloc(), "orders.shop.svc", server.port()))) {
      assertThat(conn.request("anonymous")).isNull();
      // The allow-list needs an identity, so the handshake itself asks for the certificate and fails.
      assertThat(server.nextPeer().cause()).isInstanceOf(javax.net.ssl.SSLHandshakeException.class)
          .hasMessageContaining("CERTIFICATE");
    }
  }

  @Test
  void closedServerTlsRefusesNewConnectionsButKeepsOpenOnes() throws Exception {
    ServerTls serverTls = server(TlsProvider.AUTO, Pki.server(CA, 1));
    try (ClientTls clientTls = client(TlsProvider.AUTO, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn open = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(open.request("before")).isEqualTo("before");
      serverTls.close();
      try (Echo.Conn late = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
        assertThat(late.peer().isSuccess()).isFalse();
      }
      assertThat(open.request("after")).isEqualTo("after");
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void trustChangeReachesTheCaListTheServerAdvertises(TlsProvider provider) throws Exception {
    TestCa newCa = TestCa.create("next CA");
    TlsIdentity clientId = Pki.client(CA, 1);
    List<List<String>> advertised = new CopyOnWriteArrayList<>();
    X509ExtendedKeyManager recording = new RecordingKeyManager(clientId, advertised);
    SslContext recordingClient = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
        .keyManager(recording).trustManager(CA.certificate()).build();
    MaterialPublisher serverSource = source(Pki.server(CA, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).provider(provider).build();
        Echo.Server server = new Echo.Server(group, serverTls)) {
      for (int round = 0; round < 2; round++) {
        try (Echo.Conn conn = Echo.Conn.open(group, Echo.named("orders.shop.svc", server.port()),
            ch -> recordingClient.newHandler(ch.alloc(), "orders.shop.svc", server.port()))) {
          assertThat(conn.request("ping")).isEqualTo("ping");
        }
        serverSource.publish(serverSource.current().withTrust(Pki.trust("test@2", CA, newCa)));
      }
    }
    String oldName = CA.certificate().getSubjectX500Principal().getName();
    String newName = newCa.certificate().getSubjectX500Principal().getName();
    assertThat(advertised).hasSize(2);
    assertThat(advertised.get(0)).containsExactly(oldName);
    assertThat(advertised.get(1)).containsExactlyInAnyOrder(oldName, newName);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void alpnNegotiatesTheServersPreference(TlsProvider provider) throws Exception {
    try (ServerTls serverTls = NettyMtls.forServer(source(Pki.server(CA, 1))).provider(provider)
            .alpn(NettyMtls.ALPN_H2, NettyMtls.ALPN_HTTP_1_1).build();
        ClientTls clientTls = NettyMtls.forClient(source(Pki.client(CA, 1))).provider(provider)
            .alpn(NettyMtls.ALPN_HTTP_1_1, NettyMtls.ALPN_H2).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.peer().isSuccess()).isTrue();
      assertThat(conn.ssl().applicationProtocol()).isEqualTo("h2");
    }
  }

  @Test
  void clientCanInstallTlsForANameItKnowsUpFront() throws Exception {
    try (ServerTls serverTls = server(TlsProvider.AUTO, Pki.server(CA, 1));
        ClientTls clientTls = client(TlsProvider.AUTO, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls);
        // Dial the bare IP but verify the service name, as a proxy-aware client would.
        Echo.Conn conn = Echo.Conn.open(group, new InetSocketAddress("127.0.0.1", server.port()),
            ch -> new io.netty.channel.ChannelInboundHandlerAdapter() {
              @Override
              public void handlerAdded(io.netty.channel.ChannelHandlerContext ctx) {
                clientTls.install(ctx, "orders.shop.svc", server.port());
                ctx.pipeline().remove(this);
              }
            })) {
      assertThat(conn.peer().getNow().dnsNames()).contains("orders.shop.svc");
      assertThat(conn.request("known name")).isEqualTo("known name");
    }
    try (ClientTls clientTls = client(TlsProvider.AUTO, source(Pki.client(CA, 1)))) {
      assertThatThrownBy(() -> clientTls.install(null, "x", 1)).isInstanceOf(NullPointerException.class);
    }
  }

  @Test
  void serverWithoutMaterialRefusesConnectionsUntilTheFirstSnapshot() throws Exception {
    MaterialPublisher empty = new MaterialPublisher();
    try (ServerTls serverTls = NettyMtls.forServer(empty).build();
        ClientTls clientTls = client(TlsProvider.AUTO, source(Pki.client(CA, 1)));
        Echo.Server server = new Echo.Server(group, serverTls)) {
      assertThat(serverTls.generation()).isZero();
      try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
        assertThat(conn.peer().isSuccess()).isFalse();
      }
      empty.publish(new MtlsMaterial(Pki.server(CA, 1), TRUST, 1));
      assertThat(serverTls.generation()).isEqualTo(1);
      try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
        assertThat(conn.request("now")).isEqualTo("now");
      }
    }
  }

  @Test
  void buildersRejectBadInputWithClearMessages() {
    MaterialPublisher ok = source(Pki.server(CA, 1));
    assertThatThrownBy(() -> NettyMtls.forServer(null)).isInstanceOf(NullPointerException.class)
        .hasMessage("source");
    assertThatThrownBy(() -> NettyMtls.forClient(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> NettyMtls.forServer(ok).policy(null)).isInstanceOf(NullPointerException.class)
        .hasMessage("policy");
    assertThatThrownBy(() -> NettyMtls.forServer(ok).peerPolicy(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> NettyMtls.forServer(ok).provider(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> NettyMtls.forServer(ok).alpn()).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("at least one");
    assertThatThrownBy(() -> NettyMtls.forClient(ok).alpn("h2", "h2"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("twice");
    assertThatThrownBy(() -> NettyMtls.forClient(ok).alpn("")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> NettyMtls.forClient(ok).alpn("h2", null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> NettyMtls.peer(null)).isInstanceOf(NullPointerException.class);

    // A key that does not belong to the certificate fails at build(), not at the first client.
    TlsIdentity good = Pki.server(CA, 1);
    PrivateKey otherKey = TestCa.newKeyPair().getPrivate();
    // kube-mtls' publisher refuses it; a source of somebody else's that does not check hands it over.
    MtlsMaterial bad = new MtlsMaterial(new TlsIdentity(otherKey, good.chain(), 1), TRUST, 1);
    assertThatThrownBy(() -> new MaterialPublisher(bad)).hasMessageContaining("does not belong");
    MaterialSource mismatched = new MaterialSource() {
      @Override
      public MtlsMaterial current() {
        return bad;
      }

      @Override
      public java.util.Optional<MtlsMaterial> currentIfReady() {
        return java.util.Optional.of(bad);
      }

      @Override
      public Subscription subscribe(MaterialListener listener) {
        return () -> { };
      }
    };
    assertThatThrownBy(() -> NettyMtls.forServer(mismatched).provider(TlsProvider.OPENSSL).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("generation 1");
  }

  /** Presents one identity and records the CA names each server asked for. */
  private static final class RecordingKeyManager extends X509ExtendedKeyManager {
    private final TlsIdentity identity;
    private final List<List<String>> advertised;

    RecordingKeyManager(TlsIdentity identity, List<List<String>> advertised) {
      this.identity = identity;
      this.advertised = advertised;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
      advertised.add(issuers == null ? List.of()
          : java.util.Arrays.stream(issuers).map(Principal::getName).toList());
      return "me";
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return chooseEngineClientAlias(keyType, issuers, null);
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return new String[] {"me"};
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return identity.chain().toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      return identity.privateKey();
    }
  }
}
