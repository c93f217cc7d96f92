package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.testing.RecordingTlsListener.Outcome;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.netty.ClientTls;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.grpc.ClientTransportFilter;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.grpc.stub.ClientCalls;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What a gRPC server's and channel's {@code TlsListener} hears, for both providers, compared with
 * what mtls-netty's {@link ServerTls} and {@link ClientTls} hear for the same peers: handshakes that
 * fail before any certificate is checked (no common protocol version or group, an
 * {@code openssl s_client} limited to groups or signature schemes the policy excludes, no client
 * certificate, plain text to the TLS port, a peer that hangs up), untrusted peers on either side,
 * and successes. Every failed handshake is reported exactly once, with the same class as on Netty;
 * every success once, with a duration above zero.
 *
 * <p>"Exactly once": after the peer under test, a good client connects to the same server, and the
 * server's events up to its success are compared in full; a second report of the same connection
 * would come from the same event-loop task as the first, long before that handshake is done.
 */
class GrpcHandshakeEventsTest {

  private static final TestCa CA = TestCa.create("cluster CA");
  private static final TestCa FOREIGN = TestCa.create("foreign CA");
  private static final EventLoopGroup LOOPS = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  private static final TlsPolicy TLS13 = TlsPolicy.builder().protocols(TlsPolicy.TLS_1_3).build();
  private static final TlsPolicy TLS12 = TlsPolicy.builder().protocols(TlsPolicy.TLS_1_2).build();

  private final List<AutoCloseable> open = new ArrayList<>();

  @TempDir
  Path dir;

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
    open.clear();
  }

  @AfterAll
  static void stopLoops() {
    LOOPS.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  private static MtlsMaterial serverMaterial() {
    return Pki.material(Pki.server(CA, 1), Pki.trust("v1", CA));
  }

  private static MtlsMaterial clientMaterial(TestCa issuer, TestCa trusted) {
    return Pki.material(Pki.client(issuer, 1), Pki.trust("v1", trusted));
  }

  // ---------------------------------------------------------------- the two stacks under the same peers

  /** A server and a client of one integration, each reporting to a listener. */
  private interface Stack {
    int serve(TlsPolicy policy, RecordingTlsListener events) throws Exception;

    /** One connection from this integration's client; returns once it has failed or closed. */
    void connect(TlsPolicy policy, MtlsMaterial material, RecordingTlsListener events, int port) throws Exception;
  }

  private final class GrpcStack implements Stack {
    private final TlsProvider provider;

    GrpcStack(TlsProvider provider) {
      this.provider = provider;
    }

    @Override
    public int serve(TlsPolicy policy, RecordingTlsListener events) throws Exception {
      GrpcServerTls tls = GrpcMtls.forServer(new MaterialPublisher(serverMaterial())).provider(provider)
          .policy(policy).listener(events).build();
      open.add(tls);
      Server server = tls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(new Echo()).build().start();
      open.add(() -> server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS));
      return server.getPort();
    }

    @Override
    public void connect(TlsPolicy policy, MtlsMaterial material, RecordingTlsListener events, int port) throws Exception {
      GrpcClientTls tls = GrpcMtls.forClient(new MaterialPublisher(material)).provider(provider).policy(policy)
          .listener(events).build();
      open.add(tls);
      ManagedChannel ch = oneConnection(tls.newChannelBuilder("127.0.0.1:" + port));
      try {
        call(ch);
      } catch (StatusRuntimeException expected) {
        // the failure is what the listener reports
      } finally {
        ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    }
  }

  private final class NettyStack implements Stack {
    private final TlsProvider provider;

    NettyStack(TlsProvider provider) {
      this.provider = provider;
    }

    @Override
    public int serve(TlsPolicy policy, RecordingTlsListener events) throws Exception {
      ServerTls tls = NettyMtls.forServer(new MaterialPublisher(serverMaterial())).provider(provider).policy(policy)
          .alpn("h2").listener(events).build();
      open.add(tls);
      Channel listening = new ServerBootstrap().group(LOOPS).channel(NioServerSocketChannel.class)
          .childHandler(tls).bind("127.0.0.1", 0).sync().channel();
      open.add(() -> listening.close().sync());
      return ((InetSocketAddress) listening.localAddress()).getPort();
    }

    @Override
    public void connect(TlsPolicy policy, MtlsMaterial material, RecordingTlsListener events, int port) throws Exception {
      ClientTls tls = NettyMtls.forClient(new MaterialPublisher(material)).provider(provider).policy(policy)
          .alpn("h2").listener(events).build();
      open.add(tls);
      Channel ch = new Bootstrap().group(LOOPS).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel c) {
              c.pipeline().addLast(tls);
            }
          })
          .connect("127.0.0.1", port).sync().channel();
      assertThat(ch.closeFuture().await(10, TimeUnit.SECONDS)).as("the connection closes").isTrue();
    }
  }

  /** What one peer under test made each side hear. */
  private record Heard(List<HandshakeFailure> server, List<HandshakeFailure> client) {}

  @FunctionalInterface
  private interface Peer {
    void run(Stack stack, int port, RecordingTlsListener clientEvents) throws Exception;
  }

  /**
   * Runs {@code peer} against a server of {@code stack}, then a good client; returns the failure
   * classes each side reported, after checking that the server reported nothing else (one success,
   * the good client's, with a duration) and that each event came once.
   */
  private Heard heard(Stack stack, TlsPolicy serverPolicy, Peer peer) throws Exception {
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    int port = stack.serve(serverPolicy, serverEvents);
    peer.run(stack, port, clientEvents);
    OutsidePeer.Result good = new OutsidePeer(Pki.client(CA, 1), List.of(CA.certificate()))
        .applicationProtocols("h2").exchange(port, (in, out) -> {
          // Held open until the server has heard of it: a peer that hangs up at once may be reset
          // before the server has read its Finished.
          Awaitility.await().atMost(RecordingTlsListener.TIMEOUT)
              .until(() -> serverEvents.all().stream().anyMatch(e -> e.outcome() == Outcome.SUCCEEDED));
          return "handshake done";
        });
    assertThat(good.firstLine()).as(good.toString()).isEqualTo("handshake done");
    List<HandshakeFailure> server = new ArrayList<>();
    for (RecordingTlsListener.Event e = serverEvents.next(); e.outcome() != Outcome.SUCCEEDED; e = serverEvents.next()) {
      e.assertFailed(Side.SERVER, e.reason());
      assertThat(e.took()).as("a failure's duration: %s", e).isPositive();
      server.add(e.reason());
    }
    assertThat(serverEvents.all()).as("server events").hasSize(server.size() + 1);
    serverEvents.all().get(server.size()).assertSucceeded(Side.SERVER, "TLSv1.3");
    List<HandshakeFailure> client = new ArrayList<>();
    for (RecordingTlsListener.Event e : clientEvents.all()) {
      e.assertFailed(Side.CLIENT, e.reason());
      assertThat(e.took()).as("a failure's duration: %s", e).isPositive();
      client.add(e.reason());
    }
    return new Heard(server, client);
  }

  /** What gRPC reports for {@code peer}: what Netty reports for it, and {@code expected}. */
  private void assertSameAsNetty(TlsProvider provider, TlsPolicy serverPolicy, Peer peer, Heard expected)
      throws Exception {
    Heard grpc = heard(new GrpcStack(provider), serverPolicy, peer);
    closeAll();
    Heard netty = heard(new NettyStack(provider), serverPolicy, peer);
    System.out.printf("[events] %s: gRPC %s, Netty %s%n", provider, grpc, netty);
    assertThat(grpc).as("gRPC against Netty").isEqualTo(netty);
    assertThat(grpc).isEqualTo(expected);
  }

  /**
   * A channel that makes one connection: it shuts down when its first transport ends, before its
   * reconnect backoff (at least 0.8 s) is over, so a failed handshake is not retried.
   */
  private static ManagedChannel oneConnection(NettyChannelBuilder builder) {
    AtomicReference<ManagedChannel> channel = new AtomicReference<>();
    channel.set(builder.addTransportFilter(new ClientTransportFilter() {
      @Override
      public void transportTerminated(io.grpc.Attributes attributes) {
        channel.get().shutdownNow();
      }
    }).build());
    return channel.get();
  }

  private static String call(ManagedChannel ch) {
    return ClientCalls.blockingUnaryCall(ch, Echo.UNARY,
        io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), "hello");
  }

  // ---------------------------------------------------------------- before any certificate check

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aTls12ClientAgainstATls13Server(TlsProvider provider) throws Exception {
    assertSameAsNetty(provider, TLS13,
        (stack, port, events) -> stack.connect(TLS12, clientMaterial(CA, CA), events, port),
        new Heard(List.of(HandshakeFailure.PROTOCOL), List.of(HandshakeFailure.PROTOCOL)));
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void noSharedGroup(TlsProvider provider) throws Exception {
    // The server keeps P-256, its key's curve (SunJSSE signs with an ECDSA key only on an enabled group).
    TlsPolicy p256 = TLS13.toBuilder().namedGroups("secp256r1").build();
    TlsPolicy x25519 = TLS13.toBuilder().namedGroups("x25519").build();
    Heard grpc = heard(new GrpcStack(provider), p256,
        (stack, port, events) -> stack.connect(x25519, clientMaterial(CA, CA), events, port));
    closeAll();
    Heard netty = heard(new NettyStack(provider), p256,
        (stack, port, events) -> stack.connect(x25519, clientMaterial(CA, CA), events, port));
    System.out.printf("[events] %s no shared group: gRPC %s, Netty %s%n", provider, grpc, netty);
    assertThat(grpc).isEqualTo(netty);
    assertThat(grpc.server()).containsExactly(HandshakeFailure.PROTOCOL);
    assertThat(grpc.client()).hasSize(1);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void opensslClientsWithGroupsOrSignatureSchemesThePolicyExcludes(TlsProvider provider) throws Exception {
    Files.writeString(dir.resolve("ca.pem"), CA.certificatePem());
    Heard protocolOnly = new Heard(List.of(HandshakeFailure.PROTOCOL), List.of());
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> sClient(port, "-tls1_3", "-groups", "X448"), protocolOnly);
    closeAll();
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> sClient(port, "-tls1_2", "-groups", "P-521"), protocolOnly);
    closeAll();
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> sClient(port, "-tls1_2", "-sigalgs", "ECDSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0"),
        protocolOnly);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientWithoutACertificate(TlsProvider provider) throws Exception {
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> new OutsidePeer(null, List.of(CA.certificate())).applicationProtocols("h2").refusal(port),
        new Heard(List.of(HandshakeFailure.NO_PEER_CERTIFICATE), List.of()));
    closeAll();
    // And a grpc-java channel without a certificate (not ours, so only the server reports).
    Heard grpc = heard(new GrpcStack(provider), TlsPolicy.defaults(), (stack, port, events) -> {
      io.grpc.ChannelCredentials noCert = NettySslContextChannelCredentials.create(
          GrpcSslContexts.configure(SslContextBuilder.forClient(),
              provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL).trustManager(CA.certificate()).build());
      ManagedChannel ch = oneConnection(NettyChannelBuilder.forTarget("127.0.0.1:" + port, noCert));
      try {
        assertThat(catchThrowableOfType(StatusRuntimeException.class, () -> call(ch))).isNotNull();
      } finally {
        ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    });
    assertThat(grpc).isEqualTo(new Heard(List.of(HandshakeFailure.NO_PEER_CERTIFICATE), List.of()));
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void plainTextToTheTlsPort(TlsProvider provider) throws Exception {
    assertSameAsNetty(provider, TlsPolicy.defaults(), (stack, port, events) -> {
      try (Socket s = new Socket("127.0.0.1", port)) {
        s.setSoTimeout(10_000);
        s.getOutputStream().write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
        drain(s.getInputStream());
      }
    }, new Heard(List.of(HandshakeFailure.PROTOCOL), List.of()));
    closeAll();
    // And a grpc-java channel in plain text.
    Heard grpc = heard(new GrpcStack(provider), TlsPolicy.defaults(), (stack, port, events) -> {
      ManagedChannel ch = oneConnection(NettyChannelBuilder.forTarget("127.0.0.1:" + port).usePlaintext());
      try {
        assertThat(catchThrowableOfType(StatusRuntimeException.class, () -> call(ch))).isNotNull();
      } finally {
        ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    });
    assertThat(grpc).isEqualTo(new Heard(List.of(HandshakeFailure.PROTOCOL), List.of()));
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aPeerThatHangsUpDuringTheHandshake(TlsProvider provider) throws Exception {
    assertSameAsNetty(provider, TlsPolicy.defaults(), (stack, port, events) -> {
      try (Socket s = new Socket("127.0.0.1", port)) {
        // The start of a TLS record, then the connection ends.
        s.getOutputStream().write(new byte[] {0x16, 0x03, 0x01});
        s.getOutputStream().flush();
        s.shutdownOutput();
        s.setSoTimeout(10_000);
        drain(s.getInputStream());
      }
    }, new Heard(List.of(HandshakeFailure.OTHER), List.of()));
  }

  // ---------------------------------------------------------------- certificate checks

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientThatDoesNotTrustTheServer(TlsProvider provider) throws Exception {
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> stack.connect(TlsPolicy.defaults(), clientMaterial(CA, FOREIGN), events, port),
        new Heard(List.of(HandshakeFailure.REJECTED_BY_PEER), List.of(HandshakeFailure.UNTRUSTED_PEER)));
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientCertificateFromAnotherCa(TlsProvider provider) throws Exception {
    TlsIdentity foreign = Pki.client(FOREIGN, 1);
    assertSameAsNetty(provider, TlsPolicy.defaults(),
        (stack, port, events) -> new OutsidePeer(foreign, List.of(CA.certificate())).applicationProtocols("h2")
            .protocols("TLSv1.3").refusal(port),
        new Heard(List.of(HandshakeFailure.UNTRUSTED_PEER), List.of()));
  }

  // ---------------------------------------------------------------- successes

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aSuccessIsReportedOnceOnEachSideWithItsDuration(TlsProvider provider) throws Exception {
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    int port = new GrpcStack(provider).serve(TlsPolicy.defaults(), serverEvents);
    GrpcClientTls tls = GrpcMtls.forClient(new MaterialPublisher(clientMaterial(CA, CA))).provider(provider)
        .listener(clientEvents).build();
    open.add(tls);
    // A channel built from the credentials alone (no builder of ours) reports as well.
    ManagedChannel ch = io.grpc.Grpc.newChannelBuilder("127.0.0.1:" + port, tls.credentials()).build();
    try {
      assertThat(Echo.parts(call(ch))[1]).isEqualTo("spiffe://cluster.local/ns/shop/sa/web");
    } finally {
      ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    assertThat(clientEvents.next().assertSucceeded(Side.CLIENT, "TLSv1.3")).contains("spiffe://cluster.local/ns/shop/sa/orders");
    assertThat(serverEvents.next().assertSucceeded(Side.SERVER, "TLSv1.3")).contains("spiffe://cluster.local/ns/shop/sa/web");
    // A second handshake to the same server: one more event on each side, no other.
    ManagedChannel again = tls.newChannelBuilder("127.0.0.1:" + port).build();
    try {
      call(again);
    } finally {
      again.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
    clientEvents.next().assertSucceeded(Side.CLIENT, "TLSv1.3");
    serverEvents.next().assertSucceeded(Side.SERVER, "TLSv1.3");
    assertThat(clientEvents.all()).hasSize(2);
    assertThat(serverEvents.all()).hasSize(2);
  }

  // ---------------------------------------------------------------- peers

  private void sClient(int port, String... options) throws IOException, InterruptedException {
    String said = OpensslClient.run(dir, port, options);
    assertThat(said).as("openssl s_client " + String.join(" ", options) + " must not complete a handshake")
        .contains("Cipher is (NONE)");
  }

  private static void drain(InputStream in) {
    try {
      while (in.read() >= 0) {
        // until the server closes
      }
    } catch (IOException e) {
      // reset: closed all the same
    }
  }
}
