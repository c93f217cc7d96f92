package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2ChannelDuplexHandler;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The default bound of {@link ServerTls} over real sockets and real certificates: a connection is
 * ended at the client certificate's {@code notAfter} (read from an injected clock) and when the CA
 * that issued it leaves the server's bundle, and it ends as gracefully as its protocol allows:
 * HTTP/1.1 answers the request in flight with {@code Connection: close} and then closes, HTTP/2
 * sends GOAWAY twice and lets the open stream finish, an opaque protocol is closed only once quiet
 * (or at the grace's end).
 */
class GracefulEndTest {

  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  private static final TestCa CA = TestCa.create("graceful CA one");
  private static final TestCa OTHER = TestCa.create("graceful CA two");

  private static void awaitClosed(Channel channel) {
    Awaitility.await("the connection to close").atMost(Echo.TIMEOUT).pollInterval(Duration.ofMillis(20))
        .until(() -> !channel.isActive());
  }

  /** A server trusting CA and OTHER, presenting a certificate from CA. */
  private static MaterialPublisher server() {
    return new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), Pki.trust("t@1", CA, OTHER), 1));
  }

  /** A client with a certificate from {@code issuer}, trusting both CAs. */
  private static ClientTls client(TestCa issuer) {
    return NettyMtls.forClient(new MaterialPublisher(
        new MtlsMaterial(Pki.client(issuer, 1), Pki.trust("t@1", CA, OTHER), 1))).build();
  }

  /** The server's CA rotation retires OTHER. */
  private static void retireOther(MaterialPublisher serverSource) {
    MtlsMaterial m = serverSource.current();
    serverSource.publish(new MtlsMaterial(m.identity(), Pki.trust("t@2", CA), m.generation() + 1));
  }

  @Test
  void byDefaultAServerEndsAConnectionAtTheClientCertificatesNotAfter() throws Exception {
    MaterialPublisher serverSource = server();
    TlsIdentity clientIdentity = Pki.client(CA, 1);
    // The server's clock stands 200 ms plus the grace before the client certificate expires (still
    // valid for the handshake): the connection is due now, so as to be closed by notAfter.
    MutableClock clock = new MutableClock(
        clientIdentity.notAfter().minus(ConnectionLifetime.DEFAULT_GRACE).minusMillis(200));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).clock(clock).build();
        ClientTls clientTls = NettyMtls.forClient(new MaterialPublisher(
            new MtlsMaterial(clientIdentity, Pki.trust("t@1", CA), 1))).unboundedConnections().build();
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        // The request goes right behind the handshake, before the bound can find the connection quiet.
        Echo.Conn conn = Echo.Conn.openSending(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()),
            "hello")) {
      assertThat(conn.response()).isEqualTo("hello");
      awaitClosed(conn.channel);
      assertThat(conn.errors).isEmpty();
    }
  }

  @Test
  void byDefaultAServerEndsAConnectionWhenItsCaLeavesTheBundleAndKeepsTheOthers() throws Exception {
    MaterialPublisher serverSource = server();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
        ClientTls retiring = client(OTHER);
        ClientTls staying = client(CA);
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        Echo.Conn underOther = Echo.Conn.open(LOOPS.group(), retiring, Echo.named("orders.shop.svc", server.port()));
        Echo.Conn underCa = Echo.Conn.open(LOOPS.group(), staying, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(underOther.request("a")).isEqualTo("a");
      assertThat(underCa.request("b")).isEqualTo("b");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> serverTls.lifetime.openConnections() == 2);
      retireOther(serverSource);
      awaitClosed(underOther.channel);
      assertThat(underCa.request("c")).isEqualTo("c");
      assertThat(underCa.channel.isActive()).isTrue();
    }
  }

  @Test
  void http11AnswersTheRequestInFlightWithConnectionCloseThenCloses() throws Exception {
    MaterialPublisher serverSource = server();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
        ClientTls clientTls = client(OTHER);
        Http1.Server server = new Http1.Server(LOOPS.group(), serverTls)) {
      Http1.Conn busy = Http1.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()));
      Http1.Conn idle = Http1.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()));
      assertThat(busy.request("one")).isEqualTo(new Http1.Answer("one", false));
      assertThat(idle.request("first")).isEqualTo(new Http1.Answer("first", false));

      // A request is in flight (its answer waits for the gate) when the client's CA is retired.
      CompletableFuture<Void> gate = new CompletableFuture<>();
      server.gate = gate;
      CompletableFuture<Http1.Answer> inFlight = CompletableFuture.supplyAsync(() -> {
        try {
          return busy.request("two");
        } catch (InterruptedException e) {
          throw new IllegalStateException(e);
        }
      });
      assertThat(server.received.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("one");
      assertThat(server.received.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("first");
      assertThat(server.received.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("two");
      retireOther(serverSource);
      // The idle connection is closed once quiet; the busy one waits for its answer.
      awaitClosed(idle.channel);
      assertThat(busy.channel.isActive()).isTrue();
      gate.complete(null);
      assertThat(inFlight.get(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
          .isEqualTo(new Http1.Answer("two", true));
      awaitClosed(busy.channel);
      assertThat(busy.errors).isEmpty();
      assertThat(idle.errors).isEmpty();
    }
  }

  @Test
  void anHttp11ClientAsksForConnectionCloseOnItsNextRequestWhenTheServersCaLeavesItsBundle() throws Exception {
    MaterialPublisher serverSource = new MaterialPublisher(
        new MtlsMaterial(Pki.server(OTHER, 1), Pki.trust("t@1", CA, OTHER), 1));
    MaterialPublisher clientSource = new MaterialPublisher(
        new MtlsMaterial(Pki.client(CA, 1), Pki.trust("t@1", CA, OTHER), 1));
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).build();
        Http1.Server server = new Http1.Server(LOOPS.group(), serverTls)) {
      Http1.Conn busy = Http1.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()));
      Http1.Conn idle = Http1.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()));
      assertThat(busy.request("one")).isEqualTo(new Http1.Answer("one", false));
      assertThat(idle.request("first")).isEqualTo(new Http1.Answer("first", false));
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> clientTls.lifetime.openConnections() == 2);

      // The client's CA rotation retires OTHER, which issued the server's certificate.
      clientSource.publish(new MtlsMaterial(clientSource.current().identity(), Pki.trust("t@2", CA), 2));
      // The next request says Connection: close, so the (unbounded) server answers it and closes.
      assertThat(busy.request("two")).isEqualTo(new Http1.Answer("two", true));
      awaitClosed(busy.channel);
      assertThat(busy.errors).isEmpty();
      assertThat(idle.errors).isEmpty();
    }
  }

  @Test
  void http2SendsGoAwayAndLetsTheOpenStreamFinish() throws Exception {
    MaterialPublisher serverSource = server();
    CompletableFuture<Void> gate = new CompletableFuture<>();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
        ClientTls clientTls = client(OTHER)) {
      Channel server = new ServerBootstrap().group(LOOPS.group()).channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(serverTls, Http2FrameCodecBuilder.forServer().build(),
                  new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                      if (msg instanceof Http2HeadersFrame h && h.isEndStream()) {
                        boolean wait = "/wait".contentEquals(h.headers().path());
                        Runnable answer = () -> ctx.writeAndFlush(new DefaultHttp2HeadersFrame(
                            new DefaultHttp2Headers().status("200"), true).stream(h.stream()));
                        if (wait) {
                          gate.thenRun(() -> ctx.executor().execute(answer));
                        } else {
                          answer.run();
                        }
                      }
                      ReferenceCountUtil.release(msg);
                    }
                  });
            }
          }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
      int port = ((InetSocketAddress) server.localAddress()).getPort();
      BlockingQueue<Object> frames = new LinkedBlockingQueue<>();
      List<Throwable> errors = new CopyOnWriteArrayList<>();
      Http2ChannelDuplexHandler client = new Http2ChannelDuplexHandler() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          if (msg instanceof Http2GoAwayFrame g) {
            frames.add("GOAWAY " + g.lastStreamId() + " " + g.errorCode());
          } else if (msg instanceof Http2HeadersFrame h) {
            frames.add(h.stream().id() + " " + h.headers().status());
          } else if (msg instanceof Http2ResetFrame r) {
            frames.add("RST " + r.stream().id());
          }
          ReferenceCountUtil.release(msg);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
          errors.add(cause);
        }
      };
      Channel conn = new Bootstrap().group(LOOPS.group()).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(clientTls, Http2FrameCodecBuilder.forClient().build(), client);
            }
          }).connect(Echo.named("orders.shop.svc", port)).sync().channel();
      try {
        conn.eventLoop().submit(() -> conn.writeAndFlush(new DefaultHttp2HeadersFrame(headers("/"), true)
            .stream(client.newStream()))).sync();
        String first = (String) frames.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(first).endsWith(" 200");
        int waiting = Integer.parseInt(first.substring(0, first.indexOf(' '))) + 2;
        conn.eventLoop().submit(() -> conn.writeAndFlush(new DefaultHttp2HeadersFrame(headers("/wait"), true)
            .stream(client.newStream()))).sync();
        Awaitility.await().atMost(Echo.TIMEOUT).until(() -> serverTls.lifetime.openConnections() == 1);

        retireOther(serverSource);
        assertThat(frames.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("GOAWAY 2147483647 0");
        assertThat(frames.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("GOAWAY " + waiting + " 0");
        assertThat(conn.isActive()).as("the open stream holds the connection").isTrue();
        gate.complete(null);
        assertThat(frames.poll(Echo.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(waiting + " 200");
        awaitClosed(conn);
        assertThat(frames).isEmpty();
        assertThat(errors).isEmpty();
      } finally {
        conn.close().sync();
        server.close().sync();
      }
    }
  }

  private static DefaultHttp2Headers headers(String path) {
    DefaultHttp2Headers h = new DefaultHttp2Headers();
    h.method("GET").path(path).scheme("https").authority("orders.shop.svc");
    return h;
  }

  @Test
  void anOpaqueProtocolIsClosedOnlyOnceQuiet() throws Exception {
    MaterialPublisher serverSource = server();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).build();
        ClientTls clientTls = client(OTHER);
        Echo.Server server = new Echo.Server(LOOPS.group(), serverTls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> serverTls.lifetime.openConnections() == 1);
      retireOther(serverSource);
      // Busy for three quiet periods: every line is echoed, the connection stays.
      long until = System.nanoTime() + 3 * ConnectionLifetime.QUIET_PERIOD.toNanos();
      int n = 0;
      while (System.nanoTime() < until) {
        String line = "busy-" + n++;
        assertThat(conn.request(line)).isEqualTo(line);
      }
      assertThat(conn.channel.isActive()).isTrue();
      // Quiet: closed.
      awaitClosed(conn.channel);
      assertThat(conn.errors).isEmpty();
    }
  }

  @Test
  void aConnectionThatNeverGoesQuietIsClosedAtTheGracesEnd() throws Exception {
    MaterialPublisher serverSource = server();
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).unboundedConnections().build();
        ConnectionLifetime lifetime = ConnectionLifetime.builder(serverSource).grace(Duration.ofSeconds(2)).build();
        ClientTls clientTls = client(OTHER);
        Echo.Server server = new Echo.Server(LOOPS.group(), new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addAfter(ch.pipeline().context(this).name(), null, lifetime);
            ch.pipeline().addAfter(ch.pipeline().context(this).name(), null, serverTls);
          }
        });
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), clientTls, Echo.named("orders.shop.svc", server.port()))) {
      assertThat(conn.request("hello")).isEqualTo("hello");
      Awaitility.await().atMost(Echo.TIMEOUT).until(() -> lifetime.openConnections() == 1);
      retireOther(serverSource);
      long deadline = System.nanoTime() + Echo.TIMEOUT.toNanos();
      int n = 0;
      while (conn.channel.isActive() && System.nanoTime() < deadline) {
        conn.request("busy-" + n++);
      }
      assertThat(conn.channel.isActive()).as("closed although busy").isFalse();
    }
  }
}
