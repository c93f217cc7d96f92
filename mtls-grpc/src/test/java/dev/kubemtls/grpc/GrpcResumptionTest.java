package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Resumption and SHA-1 with real gRPC servers and channels: a session resumed after the caller's
 * notAfter (by the server's clock) is refused and reported once, while the session really was resumed (one
 * full trust check); a channel whose server certificate expired by its clock does not resume and is
 * refused; a TLS 1.2 client offering only ECDSA+SHA1 ({@code openssl s_client}) gets no SHA-1
 * signature.
 */
class GrpcResumptionTest {

  private static final TestCa CA = TestCa.create("cluster CA");

  private final List<AutoCloseable> open = new ArrayList<>();

  @TempDir
  Path dir;

  @AfterEach
  void closeAll() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  static Stream<Arguments> providersAndProtocols() {
    return Stream.of(TlsProvider.OPENSSL, TlsProvider.JDK).flatMap(p ->
        Stream.of(Arguments.of(p, TlsPolicy.TLS_1_3), Arguments.of(p, TlsPolicy.TLS_1_2)));
  }

  private static TlsPolicy only(String protocol) {
    return TlsPolicy.builder().protocols(protocol).build();
  }

  private int start(GrpcServerTls tls) throws Exception {
    open.add(tls);
    Server server = tls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(new Echo()).build().start();
    open.add(() -> server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS));
    return server.getPort();
  }

  private String call(GrpcClientTls client, int port) {
    ManagedChannel ch = client.newChannelBuilder("127.0.0.1:" + port).build();
    try {
      return ClientCalls.blockingUnaryCall(ch, Echo.UNARY,
          io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), "hello");
    } finally {
      ch.shutdownNow();
    }
  }

  private StatusRuntimeException refused(GrpcClientTls client, int port) {
    return catchThrowableOfType(StatusRuntimeException.class, () -> call(client, port));
  }

  private static MaterialPublisher server() {
    return new MaterialPublisher(Pki.material(Pki.server(CA, 1), Pki.trust("v1", CA)));
  }

  private static MaterialPublisher client() {
    return new MaterialPublisher(Pki.material(Pki.client(CA, 1), Pki.trust("v1", CA)));
  }

  @ParameterizedTest
  @MethodSource("providersAndProtocols")
  void aCallOnASessionResumedAfterTheCallersNotAfterIsRefused(TlsProvider provider, String protocol)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    RecordingTlsListener events = new RecordingTlsListener();
    GrpcServerTls serverTls = GrpcMtls.forServer(server()).provider(provider).policy(only(protocol))
        .clock(clock).listener(events).build();
    int port = start(serverTls);
    // A JDK channel resumes its sessions (an OpenSSL one never does, see the next test).
    GrpcClientTls client = GrpcMtls.forClient(client()).provider(TlsProvider.JDK).policy(only(protocol)).build();
    open.add(client);

    assertThat(call(client, port)).startsWith("hello|spiffe://cluster.local/ns/shop/sa/web|");
    assertThat(call(client, port)).startsWith("hello|");
    assertThat(serverTls.chains.hits() + serverTls.chains.misses()).as("the second channel resumed").isEqualTo(1);

    // TestCa leaves are valid from a minute ago for an hour.
    clock.advance(Duration.ofMinutes(61));
    StatusRuntimeException e = refused(client, port);

    // Refused in the handshake, as a Netty server refuses it: a JDK server before its first flight,
    // with a certificate_expired alert; BoringSSL resumes by the real clock, and the peer check after
    // the handshake closes the connection by the injected one.
    assertThat(e.getStatus().getCode()).as(String.valueOf(e.getStatus())).isEqualTo(Status.Code.UNAVAILABLE);
    if (provider == TlsProvider.JDK) {
      StringBuilder causes = new StringBuilder(String.valueOf(e.getStatus().getDescription()));
      for (Throwable t = e.getStatus().getCause(); t != null; t = t.getCause()) {
        causes.append(" | ").append(t);
      }
      assertThat(causes.toString()).contains("certificate_expired");
    }
    events.next().assertSucceeded(Side.SERVER, protocol);
    events.next().assertSucceeded(Side.SERVER, protocol);
    events.next().assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
    assertThat(serverTls.chains.hits() + serverTls.chains.misses()).as("it was a resumption").isEqualTo(1);
  }

  /**
   * With BoringSSL a session lives no longer than the caller's certificate, by the real clock: a
   * plain grpc-netty client (whose sessions live as long as its context says) resumes while its
   * certificate is valid; afterwards the server no longer accepts the session, so the handshake is a
   * full one in which the trust manager refuses the expired certificate with an alert, instead of a
   * resumption that the peer check ends with a bare close.
   */
  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aBoringSslSessionEndsWithTheCallersCertificate(String protocol) throws Exception {
    GrpcServerTls serverTls = GrpcMtls.forServer(server()).provider(TlsProvider.OPENSSL).policy(only(protocol)).build();
    int port = start(serverTls);
    GrpcClientTls warm = GrpcMtls.forClient(client()).provider(TlsProvider.OPENSSL).policy(only(protocol)).build();
    open.add(warm);
    // A first call, so that a slow start does not eat the short validity below.
    assertThat(call(warm, port)).startsWith("hello|");
    long checks = serverTls.chains.hits() + serverTls.chains.misses();

    java.time.Instant notAfter = java.time.Instant.now().plusSeconds(8);
    dev.kubemtls.core.TlsIdentity shortLived = Pki.identity(CA, 1, b -> b.commonName("web").spiffe("shop", "web")
        .validity(notAfter.minus(Duration.ofMinutes(1)), Duration.ofMinutes(1)));
    io.grpc.ChannelCredentials plain = io.grpc.netty.NettySslContextChannelCredentials.create(
        io.grpc.netty.GrpcSslContexts.configure(io.netty.handler.ssl.SslContextBuilder.forClient(),
                io.netty.handler.ssl.SslProvider.OPENSSL)
            .protocols(protocol).keyManager(shortLived.privateKey(), shortLived.chain())
            .trustManager(CA.certificate()).build());
    java.util.function.Supplier<String> plainCall = () -> {
      ManagedChannel ch = io.grpc.netty.NettyChannelBuilder.forTarget("127.0.0.1:" + port, plain).build();
      try {
        return ClientCalls.blockingUnaryCall(ch, Echo.UNARY,
            io.grpc.CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS), "hello");
      } finally {
        ch.shutdownNow();
      }
    };
    assertThat(plainCall.get()).startsWith("hello|spiffe://cluster.local/ns/shop/sa/web|");
    assertThat(plainCall.get()).startsWith("hello|");
    assertThat(serverTls.chains.hits() + serverTls.chains.misses() - checks).as("the second channel resumed")
        .isEqualTo(1);

    org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
        .until(() -> java.time.Instant.now().isAfter(notAfter.plusSeconds(1)));
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class, plainCall::get);

    assertThat(e.getStatus().getCode()).as("refused in the handshake, not per call").isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(serverTls.chains.hits() + serverTls.chains.misses() - checks)
        .as("a full handshake: the session had ended with the certificate").isEqualTo(2);
  }

  @ParameterizedTest
  @MethodSource("providersAndProtocols")
  void aChannelDoesNotResumeASessionPastTheServersNotAfter(TlsProvider provider, String protocol)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    int port = start(GrpcMtls.forServer(server()).provider(TlsProvider.JDK).policy(only(protocol)).build());
    GrpcClientTls client = GrpcMtls.forClient(client()).provider(provider).policy(only(protocol)).clock(clock).build();
    open.add(client);

    assertThat(call(client, port)).startsWith("hello|");
    assertThat(call(client, port)).startsWith("hello|");
    assertThat(client.chains.hits() + client.chains.misses())
        .as("trust checks: the JDK resumed, OpenSSL made a full handshake")
        .isEqualTo(provider == TlsProvider.JDK ? 1 : 2);

    clock.advance(Duration.ofMinutes(61));
    StatusRuntimeException e = refused(client, port);

    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    StringBuilder causes = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      causes.append(t).append(" / ");
    }
    assertThat(causes.toString()).contains("has expired");
  }

  private String sClient(int port, String... options) throws IOException, InterruptedException {
    return OpensslClient.run(dir, port, options);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aTls12ClientOfferingOnlySha1GetsNoSha1Signature(TlsProvider provider) throws Exception {
    Files.writeString(dir.resolve("ca.pem"), CA.certificatePem());
    int port = start(GrpcMtls.forServer(server()).provider(provider)
        .policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)).peerPolicy(PeerPolicy.allowAll()).build());

    assertThat(sClient(port, "-tls1_2", "-sigalgs", "ECDSA+SHA256")).contains("Peer signing digest: SHA256");
    String sha1 = sClient(port, "-tls1_2", "-sigalgs", "ECDSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0");
    assertThat(sha1).doesNotContain("Peer signing digest: SHA1")
        .containsPattern("alert (internal error|handshake failure)");
  }
}
