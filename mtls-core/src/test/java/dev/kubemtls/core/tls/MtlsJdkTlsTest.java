package dev.kubemtls.core.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.EnginePair;
import dev.kubemtls.core.testing.EnginePair.Outcome;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.KeyManager;
import org.junit.jupiter.api.Test;

/**
 * {@link MtlsJdkTls} in real handshakes: the client pins the server's ServiceAccount and checks the
 * dialled name, reports to its listener, its managers follow the source, and it tells which
 * sessions a pool must retire (CA left, peer certificate expired, optionally local renewal).
 */
class MtlsJdkTlsTest {

  private static final TestCa CA1 = TestCa.create("kube-mtls CA 1");
  private static final TestCa CA2 = TestCa.create("kube-mtls CA 2");
  private static final String HOST = "orders.shop.svc";

  private static TlsIdentity identity(TestCa ca, String ns, String sa, long generation, Instant notBefore,
      Duration validity) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(kp.getPublic()).commonName(sa).spiffe(ns, sa).dns(HOST)
        .validity(notBefore, validity).build();
    return new TlsIdentity(kp.getPrivate(), List.of(leaf), generation);
  }

  private static TlsIdentity identity(TestCa ca, String ns, String sa, long generation) {
    return identity(ca, ns, sa, generation, Instant.now().minusSeconds(60), Duration.ofHours(1));
  }

  private static TrustBundle bundle(String version, TestCa... cas) {
    return new TrustBundle(java.util.Arrays.stream(cas).map(TestCa::certificate).toList(), version);
  }

  private static SSLContext server(TestCa ca, String ns, String sa) {
    return MtlsSslContexts.of(new MtlsMaterial(identity(ca, ns, sa, 1), bundle("s", CA1, CA2), 1));
  }

  private static Outcome handshake(MtlsJdkTls client, SSLContext server, String host) {
    return EnginePair.run(client.sslContext().createSSLEngine(host, 443), server.createSSLEngine());
  }

  private static final PeerPolicy ORDERS = PeerPolicy.builder().allowServiceAccount("shop", "orders").build();

  @Test
  void theClientPinsTheServersServiceAccountAndReportsBothOutcomes() throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    MaterialPublisher source = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
    try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).listener(events).build()) {
      assertThat(handshake(client, server(CA1, "shop", "orders"), HOST).succeeded()).isTrue();
      assertThat(events.next().assertSucceeded(Side.CLIENT, "TLSv1.3")).contains("spiffe://cluster.local/ns/shop/sa/orders");

      Outcome refused = handshake(client, server(CA1, "shop", "payments"), HOST);
      assertThat(refused.client()).hasMessageContaining("is not allowed by")
          .hasMessageContaining("payments");
      events.next().assertFailed(Side.CLIENT, HandshakeFailure.PEER_NOT_ALLOWED);
    }
  }

  @Test
  void theClientChecksTheNameItDialled() throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    MaterialPublisher source = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
    try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).listener(events).build()) {
      Outcome o = handshake(client, server(CA1, "shop", "orders"), "billing.shop.svc");
      assertThat(o.client()).hasMessageContaining("does not name the address that was dialled");
      events.next().assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH);
    }
  }

  @Test
  void theSocketFactoryFollowsTheSourceOverRealSockets() throws Exception {
    MaterialPublisher serverSource = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "orders", 1), bundle("b1", CA1, CA2), 1));
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    MtlsJdkTls server = MtlsJdkTls.forServer(serverSource).listener(serverEvents).build();
    List<String> clientSubjects = new CopyOnWriteArrayList<>();
    try (SSLServerSocket listening = (SSLServerSocket) server.sslContext().getServerSocketFactory()
        .createServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      listening.setNeedClientAuth(true);
      CompletableFuture<Void> accepting = CompletableFuture.runAsync(() -> {
        for (int i = 0; i < 2; i++) {
          try (SSLSocket s = (SSLSocket) listening.accept()) {
            s.startHandshake();
            clientSubjects.add(((X509Certificate) s.getSession().getPeerCertificates()[0])
                .getSerialNumber().toString(16));
            s.getOutputStream().write(s.getInputStream().read());
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        }
      });
      TlsIdentity first = identity(CA1, "shop", "web", 1);
      MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(first, bundle("b1", CA1), 1));
      RecordingTlsListener events = new RecordingTlsListener();
      try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).listener(events).build()) {
        echo(client, listening.getLocalPort());
        TlsIdentity renewed = identity(CA1, "shop", "web", 2);
        source.publish(new MtlsMaterial(renewed, bundle("b1", CA1), 2));
        echo(client, listening.getLocalPort());
        accepting.get(10, TimeUnit.SECONDS);
        assertThat(clientSubjects).containsExactly(first.leaf().getSerialNumber().toString(16),
            renewed.leaf().getSerialNumber().toString(16));
        assertThat(events.next().assertSucceeded(Side.CLIENT, "TLSv1.3")).isPresent();
      }
    }
  }

  @Test
  void aSocketRefusingTheServerReportsItsReason() throws Exception {
    SSLContext payments = server(CA1, "shop", "payments");
    try (SSLServerSocket listening = (SSLServerSocket) payments.getServerSocketFactory()
        .createServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      listening.setNeedClientAuth(true);
      CompletableFuture<Void> accepting = CompletableFuture.runAsync(() -> {
        try (SSLSocket s = (SSLSocket) listening.accept()) {
          s.startHandshake();
        } catch (Exception expected) {
          // the client aborts the handshake
        }
      });
      MaterialPublisher source = new MaterialPublisher(
          new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
      RecordingTlsListener events = new RecordingTlsListener();
      try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).listener(events).build()) {
        assertThatThrownBy(() -> echo(client, listening.getLocalPort()))
            .isInstanceOf(SSLHandshakeException.class).hasMessageContaining("is not allowed by");
        events.next().assertFailed(Side.CLIENT, HandshakeFailure.PEER_NOT_ALLOWED);
      }
      accepting.get(10, TimeUnit.SECONDS);
    }
  }

  private static void echo(MtlsJdkTls client, int port) throws Exception {
    // HOST does not resolve here: TLS for HOST over a loopback connection, as a driver layers it
    try (java.net.Socket plain = new java.net.Socket(InetAddress.getLoopbackAddress(), port);
        SSLSocket s = (SSLSocket) client.socketFactory().createSocket(plain, HOST, port, true)) {
      OutputStream out = s.getOutputStream();
      InputStream in = s.getInputStream();
      out.write(7);
      out.flush();
      assertThat(in.read()).isEqualTo(7);
    }
  }

  @Test
  void theManagersFollowTheSource() throws Exception {
    TlsIdentity first = identity(CA1, "shop", "web", 1);
    MaterialPublisher source = new MaterialPublisher(new MtlsMaterial(first, bundle("b1", CA1), 1));
    try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).build()) {
      SSLContext plain = SSLContext.getInstance("TLS");
      plain.init(new KeyManager[] {client.keyManager()}, new TrustManager[] {client.trustManager()}, null);
      SSLContext server = server(CA1, "shop", "orders");
      javax.net.ssl.SSLEngine engine = plain.createSSLEngine(HOST, 443);
      Outcome ok = EnginePair.run(engine, server.createSSLEngine());
      assertThat(ok.succeeded()).isTrue();
      assertThat(ok.serverSession().getPeerCertificates()[0]).isEqualTo(first.leaf());

      TlsIdentity renewed = identity(CA1, "shop", "web", 2);
      source.publish(new MtlsMaterial(renewed, bundle("b2", CA1), 2));
      // a context of one's own would resume the old session (and identity), as documented: dial
      // another port so that its session cache has nothing to offer
      assertThat(client.keyManager().chooseEngineClientAlias(new String[] {"EC"}, null, null)).isEqualTo("id-2");
      Outcome again = EnginePair.run(plain.createSSLEngine(HOST, 444), server.createSSLEngine());
      assertThat(again.serverSession().getPeerCertificates()[0]).isEqualTo(renewed.leaf());

      // trust moves to CA2 only: the trust manager refuses the CA1 server
      source.publish(new MtlsMaterial(renewed, bundle("b3", CA2), 3));
      Outcome refused = EnginePair.run(plain.createSSLEngine(HOST, 445), server.createSSLEngine());
      assertThat(refused.client()).hasMessageContaining("not in the trust bundle");
    }
  }

  @Test
  void aSessionIsRetiredWhenItsCaLeavesTheBundleNotBefore() {
    MaterialPublisher source = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
    List<Long> changes = new CopyOnWriteArrayList<>();
    try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).build()) {
      client.onMaterialChange(m -> changes.add(m.generation()));
      Outcome underCa1 = handshake(client, server(CA1, "shop", "orders"), HOST);
      assertThat(client.generationOf(underCa1.clientSession())).hasValue(1);
      assertThat(client.retirementReason(underCa1.clientSession())).isEmpty();

      // rotation, overlap: both CAs trusted, the client renewed under CA2
      source.publish(new MtlsMaterial(identity(CA2, "shop", "web", 2), bundle("b2", CA1, CA2), 2));
      Outcome underOverlap = handshake(client, server(CA2, "shop", "orders"), HOST);
      assertThat(client.generationOf(underOverlap.clientSession())).hasValue(2);
      assertThat(client.retirementReason(underCa1.clientSession())).as("CA1 is still trusted").isEmpty();
      assertThat(client.mustRetire(underOverlap.clientSession())).isFalse();

      // CA1 leaves
      source.publish(new MtlsMaterial(source.current().identity(), bundle("b3", CA2), 3));
      assertThat(client.retirementReason(underCa1.clientSession())).get().asString()
          .contains("no longer in the trust bundle").contains("kube-mtls CA 1");
      assertThat(client.retirementReason(underOverlap.clientSession())).isEmpty();
      assertThat(changes).containsExactly(2L, 3L);
    }
  }

  @Test
  void aSessionIsRetiredWhenThePeerCertificateItSawExpires() {
    MutableClock clock = MutableClock.startingNow();
    MaterialPublisher source = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
    SSLContext shortLived = MtlsSslContexts.of(new MtlsMaterial(
        identity(CA1, "shop", "orders", 1, Instant.now().minusSeconds(60), Duration.ofMinutes(10)),
        bundle("s", CA1), 1));
    try (MtlsJdkTls client = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).clock(clock).build()) {
      Outcome o = handshake(client, shortLived, HOST);
      assertThat(client.retirementReason(o.clientSession())).isEmpty();
      clock.advance(Duration.ofMinutes(10));
      assertThat(client.retirementReason(o.clientSession())).get().asString()
          .contains("peer certificate it saw").contains("expired");
    }
  }

  @Test
  void aLocalRenewalRetiresOnlyWhenAskedTo() {
    MaterialPublisher source = new MaterialPublisher(
        new MtlsMaterial(identity(CA1, "shop", "web", 1), bundle("b1", CA1), 1));
    try (MtlsJdkTls keep = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).build();
        MtlsJdkTls retire = MtlsJdkTls.forClient(source).peerPolicy(ORDERS).retireOnRenewal(true).build()) {
      SSLContext server = server(CA1, "shop", "orders");
      Outcome kept = handshake(keep, server, HOST);
      Outcome retired = handshake(retire, server, HOST);
      source.publish(new MtlsMaterial(identity(CA1, "shop", "web", 2), bundle("b1", CA1), 2));
      assertThat(keep.retirementReason(kept.clientSession())).isEmpty();
      assertThat(retire.retirementReason(retired.clientSession())).get().asString().contains("was renewed");
    }
  }

  @Test
  void beforeTheFirstSnapshotEveryHandshakeFails() {
    try (MtlsJdkTls client = MtlsJdkTls.forClient(new MaterialPublisher()).build()) {
      assertThat(client.current()).isEmpty();
      Outcome o = handshake(client, server(CA1, "shop", "orders"), HOST);
      assertThat(o.succeeded()).isFalse();
      assertThatThrownBy(() -> client.trustManager().checkServerTrusted(
          new X509Certificate[] {CA1.certificate()}, "EC")).hasMessageContaining("no TLS material yet");
    }
  }
}
