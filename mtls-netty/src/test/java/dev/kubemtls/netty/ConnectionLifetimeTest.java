package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.time.Instant;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Real handshakes on loopback: {@link ConnectionLifetime} closes a server's connection at its maximum
 * age, at the client certificate's notAfter (read from an injected clock), and when the client's CA
 * leaves the server's trust bundle, while a connection under a CA still trusted stays open.
 */
class ConnectionLifetimeTest {

  private static final TestCa CA = TestCa.create("lifetime CA one");
  private static final TestCa OTHER = TestCa.create("lifetime CA two");
  private static EventLoopGroup group;

  @BeforeAll
  static void start() {
    group = Echo.group(2);
  }

  @AfterAll
  static void stop() throws InterruptedException {
    group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).sync();
  }

  /** The server's TLS handler (built without its own bound), then the lifetime bound. */
  private static ChannelInitializer<Channel> withLifetime(ServerTls tls, ConnectionLifetime lifetime) {
    return new ChannelInitializer<>() {
      @Override
      protected void initChannel(Channel ch) {
        ch.pipeline().addAfter(ch.pipeline().context(this).name(), null, lifetime);
        ch.pipeline().addAfter(ch.pipeline().context(this).name(), null, tls);
      }
    };
  }

  private static MaterialPublisher client(TestCa ca, TrustBundle trust) {
    return new MaterialPublisher(new MtlsMaterial(Pki.client(ca, 1), trust, 1));
  }

  private static void awaitClosed(Echo.Conn conn) {
    Awaitility.await("the connection to close").atMost(Echo.TIMEOUT).pollInterval(Duration.ofMillis(20))
        .until(() -> !conn.channel.isActive());
  }

  @Test
  void theMaximumAgeClosesAConnectionWhoseCertificatesAreStillGood() throws Exception {
    TrustBundle trust = Pki.trust("t@1", CA);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).maxAge(Duration.ofMillis(300)).build();
        ClientTls clientTls = NettyMtls.forClient(client(CA, trust)).build();
        Echo.Server server = new Echo.Server(group, withLifetime(serverTls, lifetime));
        // The request goes right behind the handshake, before the bound can find the connection quiet.
        Echo.Conn conn = Echo.Conn.openSending(group, clientTls, Echo.named("orders.shop.svc", server.port()), "hello")) {
      assertThat(conn.response()).isEqualTo("hello");
      awaitClosed(conn);
      assertThat(lifetime.openConnections()).isZero();
    }
  }

  @Test
  void aConnectionIsClosedAtThePeerCertificatesNotAfter() throws Exception {
    TrustBundle trust = Pki.trust("t@1", CA);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
    TlsIdentity clientIdentity = Pki.client(CA, 1);
    Instant notAfter = clientIdentity.notAfter();
    // The bound's clock stands 200 ms before the client certificate expires; the handshake itself
    // runs on real time, where the certificate is valid for most of an hour.
    MutableClock clock = new MutableClock(notAfter.minusMillis(200));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).clock(clock).build();
        ClientTls clientTls = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(clientIdentity, trust, 1))).build();
        Echo.Server server = new Echo.Server(group, withLifetime(serverTls, lifetime));
        // The request goes right behind the handshake, before the bound can find the connection quiet.
        Echo.Conn conn = Echo.Conn.openSending(group, clientTls, Echo.named("orders.shop.svc", server.port()), "hello")) {
      assertThat(conn.response()).isEqualTo("hello");
      awaitClosed(conn);
    }
    // The same connection with the default 30-minute age and the system clock stays open.
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).build();
        ClientTls clientTls = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(clientIdentity, trust, 1))).build();
        Echo.Server server = new Echo.Server(group, withLifetime(serverTls, lifetime));
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> lifetime.openConnections() == 1);
      assertThat(conn.request("still")).isEqualTo("still");
      assertThat(conn.channel.isActive()).isTrue();
    }
  }

  @Test
  void aConnectionUnderACaThatLeavesTheTrustBundleIsClosedOthersStay() throws Exception {
    TrustBundle both = Pki.trust("t@1", CA, OTHER);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), both, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).build();
        ClientTls retiring = NettyMtls.forClient(client(OTHER, both)).build();
        ClientTls staying = NettyMtls.forClient(client(CA, both)).build();
        Echo.Server server = new Echo.Server(group, withLifetime(serverTls, lifetime));
        Echo.Conn underOther = Echo.Conn.open(group, retiring, Echo.named("orders.shop.svc", server.port()));
        Echo.Conn underCa = Echo.Conn.open(group, staying, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(underOther.request("a")).isEqualTo("a");
      assertThat(underCa.request("b")).isEqualTo("b");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> lifetime.openConnections() == 2);

      // A CA rotation retires OTHER: the server's bundle no longer holds it.
      serverSource.publish(new MtlsMaterial(serverSource.current().identity(), Pki.trust("t@2", CA), 2));
      awaitClosed(underOther);
      assertThat(underCa.request("c")).isEqualTo("c");
      assertThat(underCa.channel.isActive()).isTrue();
      assertThat(lifetime.openConnections()).isEqualTo(1);
    }
  }

  @Test
  void addedAfterTheHandshakeItBoundsTheConnectionFromThen() throws Exception {
    TrustBundle trust = Pki.trust("t@1", CA);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).maxAge(Duration.ofMillis(300)).build();
        ClientTls clientTls = NettyMtls.forClient(client(CA, trust)).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      Channel child = server.children.take();
      child.pipeline().addLast(lifetime);  // as Reactor Netty's doOnConnection would, after the handshake
      awaitClosed(conn);
    }
  }

  @Test
  void serverTlsWithAMaximumAgeClosesAtThePeerCertificatesNotAfter() throws Exception {
    TrustBundle trust = Pki.trust("t@1", CA);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
    TlsIdentity clientIdentity = Pki.client(CA, 1);
    // The server's clock stands 200 ms before the client certificate expires (still valid for the
    // handshake); nothing but the handle's bound (one call, the default age) is in the pipeline.
    MutableClock clock = new MutableClock(clientIdentity.notAfter().minusMillis(200));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).clock(clock)
            .maxConnectionAge(ConnectionLifetime.DEFAULT_MAX_AGE).build();
        ClientTls clientTls = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(clientIdentity, trust, 1))).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        // The request goes right behind the handshake, before the bound can find the connection quiet.
        Echo.Conn conn = Echo.Conn.openSending(group, clientTls, Echo.named("orders.shop.svc", server.port()), "hello")) {
      assertThat(conn.response()).isEqualTo("hello");
      awaitClosed(conn);
    }
    // Turned off, the same connection stays open.
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).clock(clock)
            .maxConnectionAge(Duration.ofMinutes(5)).unboundedConnections().build();
        ClientTls clientTls = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(clientIdentity, trust, 1)))
            .build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      assertThat(serverTls.lifetime).isNull();
      assertThat(conn.request("still")).isEqualTo("still");
      assertThat(conn.channel.isActive()).isTrue();
    }
  }

  @Test
  void serverTlsMaximumAgeOptionClosesAGoodConnection() throws Exception {
    TrustBundle trust = Pki.trust("t@1", CA);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).maxConnectionAge(Duration.ofMillis(300)).build();
        ClientTls clientTls = NettyMtls.forClient(client(CA, trust)).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        // The request goes right behind the handshake, before the bound can find the connection quiet.
        Echo.Conn conn = Echo.Conn.openSending(group, clientTls, Echo.named("orders.shop.svc", server.port()), "hello")) {
      assertThat(conn.response()).isEqualTo("hello");
      awaitClosed(conn);
      assertThat(serverTls.lifetime.openConnections()).isZero();
    }
  }

  @Test
  void clientTlsWithAMaximumAgeClosesWhenTheServersCaLeavesItsBundle() throws Exception {
    TrustBundle both = Pki.trust("t@1", CA, OTHER);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(Pki.server(OTHER, 1), both, 1));
    MaterialPublisher clientSource = new MaterialPublisher(new MtlsMaterial(Pki.client(CA, 1), both, 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).maxConnectionAge(Duration.ofMinutes(30)).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> clientTls.lifetime.openConnections() == 1);
      // The client's CA rotation retires OTHER, which issued the server's certificate.
      clientSource.publish(new MtlsMaterial(clientSource.current().identity(), Pki.trust("t@2", CA), 2));
      awaitClosed(conn);
    }
  }

  @Test
  void theConnectionAgeOptionMustBePositive() {
    MaterialPublisher source = new MaterialPublisher();
    assertThatThrownBy(() -> NettyMtls.forServer(source).maxConnectionAge(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theMaximumAgeMustBePositive() {
    MaterialPublisher source = new MaterialPublisher();
    assertThatThrownBy(() -> ConnectionLifetime.builder(source).maxAge(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
