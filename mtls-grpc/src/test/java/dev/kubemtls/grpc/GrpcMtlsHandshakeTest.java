package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.grpc.ChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.grpc.stub.ClientCalls;
import io.netty.handler.ssl.SslProvider;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Real gRPC servers and channels on loopback with real handshakes, for both providers: who gets in,
 * who is refused, and what grpc shows the refused side.
 */
class GrpcMtlsHandshakeTest {

  private static final TestCa CA = TestCa.create("cluster CA");
  private static final TestCa FOREIGN = TestCa.create("foreign CA");

  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  private <T extends AutoCloseable> T keep(T c) {
    open.add(c);
    return c;
  }

  private int start(GrpcServerTls tls) throws Exception {
    Server server = tls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0))
        .addService(new Echo()).build().start();
    open.add(() -> server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS));
    return server.getPort();
  }

  private GrpcServerTls server(TlsProvider provider, PeerPolicy policy, RecordingTlsListener listener) {
    MtlsMaterial m = Pki.material(Pki.server(CA, 1), Pki.trust("v1", CA));
    return keep(GrpcMtls.forServer(new MaterialPublisher(m)).provider(provider).peerPolicy(policy)
        .listener(listener).build());
  }

  private GrpcClientTls client(TlsProvider provider, TlsIdentity identity, TestCa... trusted) {
    return keep(GrpcMtls.forClient(new MaterialPublisher(Pki.material(identity, Pki.trust("v1", trusted))))
        .provider(provider).build());
  }

  private ManagedChannel channel(NettyChannelBuilder builder) {
    ManagedChannel ch = builder.build();
    open.add(() -> ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS));
    return ch;
  }

  private static String call(ManagedChannel ch, String request) {
    return ClientCalls.blockingUnaryCall(ch, Echo.UNARY,
        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), request);
  }

  private static StatusRuntimeException refused(ManagedChannel ch) {
    return catchThrowableOfType(StatusRuntimeException.class, () -> call(ch, "hello"));
  }

  /**
   * A call on a new channel from {@code builder} that the server refuses in the TLS 1.3 handshake,
   * after the client's side of it completed: the server's alert ends the connection on the client's
   * next read. The client writes its HTTP/2 preface meanwhile, and when the server has closed by
   * then, a write can meet a reset that ends the channel before the alert is read. Such an attempt
   * (no alert among the causes) is repeated on a new channel, each one a real refusal; the first
   * that read an alert is returned, so the alert is still asserted.
   */
  private StatusRuntimeException refusedWithItsAlert(java.util.function.Supplier<NettyChannelBuilder> builder) {
    StatusRuntimeException e = null;
    for (int attempt = 0; attempt < OutsidePeer.REFUSAL_ATTEMPTS; attempt++) {
      e = refused(channel(builder.get()));
      if (e == null || causes(e).toLowerCase(java.util.Locale.ROOT).contains("alert")) {
        return e;
      }
    }
    return e;
  }

  private static String causes(Throwable t) {
    StringBuilder sb = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      sb.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage()).append(" / ");
    }
    return sb.toString();
  }

  /** What grpc shows: UNAVAILABLE, its own description, and the TLS stack's reason among the causes. */
  private static void assertRefused(StatusRuntimeException e, String description, String reason) {
    assertThat(e.getStatus().getCode()).as(causes(e)).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(e.getStatus().getDescription()).startsWith(description);
    assertThat(causes(e)).contains(reason);
  }

  private static SslProvider netty(TlsProvider p) {
    return p == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL;
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void mutualAuthenticationPutsTheCallerIntoTheContext(TlsProvider provider) throws Exception {
    RecordingTlsListener listener = new RecordingTlsListener();
    GrpcServerTls tls = server(provider, PeerPolicy.builder().allowServiceAccount("shop", "web").build(), listener);
    assertThat(tls.provider()).isEqualTo(provider);
    int port = start(tls);
    GrpcClientTls client = client(provider, Pki.client(CA, 1), CA);

    // Dialled by IP address (the certificate's IP SAN) and by DNS name (its DNS SAN).
    ManagedChannel byIp = channel(client.newChannelBuilder("127.0.0.1:" + port));
    String[] answer = Echo.parts(call(byIp, "hello"));
    assertThat(answer[0]).isEqualTo("hello");
    assertThat(answer[1]).isEqualTo("spiffe://cluster.local/ns/shop/sa/web");
    ManagedChannel byName = channel(client.newChannelBuilder("127.0.0.1:" + port).overrideAuthority("orders.shop.svc"));
    assertThat(Echo.parts(call(byName, "again"))[1]).isEqualTo("spiffe://cluster.local/ns/shop/sa/web");

    RecordingTlsListener.Event ready = listener.next();
    assertThat(ready.outcome()).isEqualTo(RecordingTlsListener.Outcome.SUCCEEDED);
    assertThat(ready.side()).isEqualTo(Side.SERVER);
    assertThat(ready.peer().flatMap(p -> p.spiffeId())).contains("spiffe://cluster.local/ns/shop/sa/web");
    assertThat(ready.protocol()).isEqualTo("TLSv1.3");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientWithoutCertificateIsRefused(TlsProvider provider) throws Exception {
    int port = start(server(provider, PeerPolicy.anySpiffeId(), new RecordingTlsListener()));
    ChannelCredentials noCert = NettySslContextChannelCredentials.create(
        GrpcSslContexts.configure(io.netty.handler.ssl.SslContextBuilder.forClient(), netty(provider))
            .trustManager(CA.certificate()).build());
    StatusRuntimeException e = refusedWithItsAlert(() -> NettyChannelBuilder.forTarget("127.0.0.1:" + port, noCert));
    // TLS 1.3: the client's handshake completes; the server's alert ends the connection on its first read.
    assertRefused(e, "ssl exception", provider == TlsProvider.OPENSSL
        ? "OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED" : "Received fatal alert: bad_certificate");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientFromAForeignCaIsRefused(TlsProvider provider) throws Exception {
    RecordingTlsListener listener = new RecordingTlsListener();
    int port = start(server(provider, PeerPolicy.anySpiffeId(), listener));
    GrpcClientTls client = client(provider, Pki.client(FOREIGN, 1), CA);
    StatusRuntimeException e = refusedWithItsAlert(() -> client.newChannelBuilder("127.0.0.1:" + port));
    // The server advertises only its own CA, so the client has no certificate to offer it: the
    // refusal is the one a client without certificate gets.
    assertRefused(e, "ssl exception", provider == TlsProvider.OPENSSL
        ? "OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED" : "Received fatal alert: bad_certificate");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientWithAnExpiredCertificateIsRefused(TlsProvider provider) throws Exception {
    RecordingTlsListener listener = new RecordingTlsListener();
    int port = start(server(provider, PeerPolicy.anySpiffeId(), listener));
    TlsIdentity expired = Pki.identity(CA, 1, b -> b.commonName("web").spiffe("shop", "web")
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
    GrpcClientTls client = client(provider, expired, CA);
    StatusRuntimeException e = refusedWithItsAlert(() -> client.newChannelBuilder("127.0.0.1:" + port));
    assertRefused(e, "ssl exception", provider == TlsProvider.OPENSSL
        ? "OPENSSL_internal:SSLV3_ALERT_CERTIFICATE_EXPIRED" : "Received fatal alert: certificate_unknown");
    listener.next().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aCallerOutsideTheAllowListGetsPermissionDeniedWithTheReason(TlsProvider provider) throws Exception {
    RecordingTlsListener listener = new RecordingTlsListener();
    int port = start(server(provider, PeerPolicy.builder().allowServiceAccount("shop", "web").build(), listener));
    TlsIdentity other = Pki.identity(CA, 1, b -> b.commonName("batch").spiffe("shop", "batch"));
    ManagedChannel ch = channel(client(provider, other, CA).newChannelBuilder("127.0.0.1:" + port));
    StatusRuntimeException e = refused(ch);
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(e.getStatus().getDescription())
        .isEqualTo("kube-mtls: peer spiffe://cluster.local/ns/shop/sa/batch is not in the allow-list");
    assertThat(listener.next().outcome()).isEqualTo(RecordingTlsListener.Outcome.SUCCEEDED);
    RecordingTlsListener.Event refusal = listener.next();
    assertThat(refusal.outcome()).isEqualTo(RecordingTlsListener.Outcome.REFUSED);
    assertThat(refusal.reason()).isEqualTo(HandshakeFailure.PEER_NOT_ALLOWED);
    assertThat(refusal.peer().flatMap(p -> p.spiffeId())).contains("spiffe://cluster.local/ns/shop/sa/batch");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void theChannelRefusesAServerWithoutTheDialledName(TlsProvider provider) throws Exception {
    int port = start(server(provider, PeerPolicy.anySpiffeId(), new RecordingTlsListener()));
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    GrpcClientTls client = keep(GrpcMtls.forClient(new MaterialPublisher(
            Pki.material(Pki.client(CA, 1), Pki.trust("v1", CA))))
        .provider(provider).listener(clientEvents).build());
    ManagedChannel ch = channel(client.newChannelBuilder("127.0.0.1:" + port).overrideAuthority("billing.shop.svc"));
    StatusRuntimeException e = refused(ch);
    assertRefused(e, "io exception", "it does not name the address that was dialled");
    clientEvents.next().assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH);
    // Once: the trust manager's refusal is reported by the peer check only.
    assertThat(clientEvents.all()).hasSize(1);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void theChannelRefusesAServerOutsideItsAllowList(TlsProvider provider) throws Exception {
    int port = start(server(provider, PeerPolicy.anySpiffeId(), new RecordingTlsListener()));
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    GrpcClientTls pinned = keep(GrpcMtls.forClient(new MaterialPublisher(
            Pki.material(Pki.client(CA, 1), Pki.trust("v1", CA))))
        .provider(provider).listener(clientEvents)
        .peerPolicy(PeerPolicy.builder().allowServiceAccount("shop", "billing").build()).build());
    StatusRuntimeException e = refused(channel(pinned.newChannelBuilder("127.0.0.1:" + port)));
    assertRefused(e, "io exception", "peer spiffe://cluster.local/ns/shop/sa/orders is not in the allow-list");
    clientEvents.next().assertFailed(Side.CLIENT, HandshakeFailure.PEER_NOT_ALLOWED);
    assertThat(clientEvents.all()).hasSize(1);

    GrpcClientTls right = keep(GrpcMtls.forClient(new MaterialPublisher(
            Pki.material(Pki.client(CA, 1), Pki.trust("v1", CA))))
        .provider(provider).peerPolicy(PeerPolicy.builder().allowServiceAccount("shop", "orders").build()).build());
    assertThat(Echo.parts(call(channel(right.newChannelBuilder("127.0.0.1:" + port)), "ok"))[0]).isEqualTo("ok");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aTrustChangeReachesTheCaListTheServerAdvertises(TlsProvider provider) throws Exception {
    MaterialPublisher source = new MaterialPublisher(Pki.material(Pki.server(CA, 1), Pki.trust("v1", CA)));
    GrpcServerTls tls = keep(GrpcMtls.forServer(source).provider(provider).build());
    int port = start(tls);
    // A client from the other CA has no certificate the server asks for: refused.
    GrpcClientTls foreign = client(provider, Pki.client(FOREIGN, 1), CA);
    assertRefused(refusedWithItsAlert(() -> foreign.newChannelBuilder("127.0.0.1:" + port)), "ssl exception",
        provider == TlsProvider.OPENSSL ? "CERTIFICATE_REQUIRED" : "bad_certificate");
    // Once the server trusts both, the CA list of new handshakes names both, and the client gets in.
    source.publish(source.current().withTrust(Pki.trust("v2", CA, FOREIGN)));
    assertThat(tls.generation()).isEqualTo(2);
    GrpcClientTls again = client(provider, Pki.client(FOREIGN, 1), CA);
    assertThat(Echo.parts(call(channel(again.newChannelBuilder("127.0.0.1:" + port)), "in"))[1])
        .isEqualTo("spiffe://cluster.local/ns/shop/sa/web");
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aServerBuiltBeforeItsFirstMaterialRefusesUntilThenAndUsesItAtOnce(TlsProvider provider) throws Exception {
    MaterialPublisher source = new MaterialPublisher();
    RecordingTlsListener events = new RecordingTlsListener();
    GrpcServerTls tls = keep(GrpcMtls.forServer(source).provider(provider).listener(events).build());
    assertThat(tls.generation()).isZero();
    int port = start(tls);
    GrpcClientTls client = client(provider, Pki.client(CA, 1), CA);
    // What the test's logger (slf4j-simple, on System.err) writes meanwhile.
    java.io.ByteArrayOutputStream logged = new java.io.ByteArrayOutputStream();
    java.io.PrintStream stderr = System.err;
    StatusRuntimeException early;
    System.setErr(new java.io.PrintStream(logged, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      early = refused(channel(client.newChannelBuilder("127.0.0.1:" + port)));
      // Reported as a Netty server reports a connection it refuses for want of material.
      assertThat(events.next().assertFailed(Side.SERVER, HandshakeFailure.OTHER).cause())
          .hasStackTraceContaining("no usable TLS material yet");
    } finally {
      System.setErr(stderr);
    }
    assertThat(early.getStatus().getCode()).as(causes(early)).isEqualTo(Status.Code.UNAVAILABLE);
    // One line per refused connection, ours; not also Netty's channel-initialisation warning and trace.
    String log = logged.toString(java.nio.charset.StandardCharsets.UTF_8);
    stderr.print(log);
    assertThat(log).contains("refusing a connection: gRPC server: no usable TLS material yet")
        .doesNotContain("Failed to initialize a channel").doesNotContain("ChannelPipelineException");
    source.publish(Pki.material(Pki.server(CA, 1), Pki.trust("v1", CA)));
    assertThat(Echo.parts(call(channel(client.newChannelBuilder("127.0.0.1:" + port)), "now"))[0]).isEqualTo("now");
    assertThat(tls.generation()).isEqualTo(1);
    events.next().assertSucceeded(Side.SERVER, "TLSv1.3");
  }
}
