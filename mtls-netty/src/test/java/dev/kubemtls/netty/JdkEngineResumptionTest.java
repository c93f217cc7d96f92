package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Netty's own {@link SslHandler} over an engine of a kube-mtls JDK context ({@link MtlsJdkTls}), the
 * way Reactor Netty runs under the Spring starter: a session resumed after the client certificate's
 * notAfter (by the server's clock) is refused before the server's first flight, and the handler
 * gets the {@code certificate_expired} alert onto the wire, so a JDK client reads it; TLS 1.3 and
 * 1.2.
 */
class JdkEngineResumptionTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = Pki.trust("t@1", CA);

  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  @ParameterizedTest
  @ValueSource(strings = {TlsPolicy.TLS_1_3, TlsPolicy.TLS_1_2})
  void aSessionResumedAfterTheClientsNotAfterGetsTheAlertThroughNettysSslHandler(String protocol)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    TlsPolicy only = TlsPolicy.builder().protocols(protocol).build();
    MtlsJdkTls server = MtlsJdkTls.forServer(new MaterialPublisher(Pki.material(Pki.server(CA, 1), TRUST, 1)))
        .tlsPolicy(only).clock(clock).build();
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    Channel listening = new ServerBootstrap().group(LOOPS.group()).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            SSLEngine engine = server.sslContext().createSSLEngine();
            engine.setUseClientMode(false);
            ch.pipeline().addLast(new SslHandler(engine), new ChannelInboundHandlerAdapter() {
              @Override
              public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.writeAndFlush(msg);
              }

              @Override
              public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                if (evt instanceof SslHandshakeCompletionEvent e && !e.isSuccess()) {
                  failures.add(e.cause());
                }
              }

              @Override
              public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
              }
            });
          }
        }).bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
    try {
      int port = ((InetSocketAddress) listening.localAddress()).getPort();
      SSLContext client = MtlsSslContexts.of(Pki.material(Pki.client(CA, 1), TRUST, 1));

      SSLSession first = exchange(client, port, protocol);
      SSLSession second = exchange(client, port, protocol);
      assertThat(second.getCreationTime()).as("the second connection resumed the first session")
          .isEqualTo(first.getCreationTime());

      clock.advance(Duration.ofMinutes(61));
      Throwable refused = catchThrowable(() -> exchange(client, port, protocol));

      assertThat(refused).as("the client read the server's alert")
          .hasMessageContaining("Received fatal alert: certificate_expired");
      // The server's event loop reports the refusal; the client may read the alert first.
      org.awaitility.Awaitility.await("the server's handshake failure").atMost(Echo.TIMEOUT)
          .until(() -> !failures.isEmpty());
      assertThat(failures).last().satisfies(f -> assertThat(f)
          .hasStackTraceContaining("refused to resume a TLS session"));
    } finally {
      listening.close().sync();
      server.close();
    }
  }

  private static SSLSession exchange(SSLContext client, int port, String protocol) throws Exception {
    try (Socket raw = new Socket(InetAddress.getLoopbackAddress(), port);
        SSLSocket s = (SSLSocket) client.getSocketFactory().createSocket(raw, "orders.shop.svc", port, true)) {
      s.setSoTimeout((int) Echo.TIMEOUT.toMillis());
      s.setEnabledProtocols(new String[] {protocol});
      s.startHandshake();
      s.getOutputStream().write("hello\n".getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      String line = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
      assertThat(line).isEqualTo("hello");
      return s.getSession();
    }
  }
}
