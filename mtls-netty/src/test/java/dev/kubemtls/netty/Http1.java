package dev.kubemtls.netty;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * HTTP/1.1 over real sockets on 127.0.0.1, through Netty's own codecs: a server that answers each
 * request with its body (after {@code gate}, when one is set) and a keep-alive client.
 */
final class Http1 {

  private Http1() {}

  /** A server whose accepted channels go through {@code tls}, then answer each POST with its body. */
  static final class Server implements AutoCloseable {
    final Channel channel;
    final BlockingQueue<Channel> children = new LinkedBlockingQueue<>();
    /** Requests received, in order. */
    final BlockingQueue<String> received = new LinkedBlockingQueue<>();
    /**
     * The {@code x-request} header of every request head the server decoded, in order: recorded right
     * behind the HTTP codec (and behind the drain kube-mtls puts there), where an exchange starts.
     */
    final java.util.Set<String> heads = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Completed before each answer, when set: a request in flight for as long as a test wants. */
    volatile CompletableFuture<Void> gate;

    Server(EventLoopGroup group, ChannelHandler tls) throws InterruptedException {
      channel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(tls, new HttpServerCodec(), new io.netty.channel.ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                      if (msg instanceof io.netty.handler.codec.http.HttpRequest head
                          && head.headers().contains("x-request")) {
                        heads.add(head.headers().get("x-request"));
                      }
                      ctx.fireChannelRead(msg);
                    }
                  }, new HttpObjectAggregator(1 << 16),
                  new SimpleChannelInboundHandler<FullHttpRequest>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
                      String body = request.content().toString(StandardCharsets.UTF_8);
                      received.add(body);
                      boolean keepAlive = HttpUtil.isKeepAlive(request);
                      FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                          HttpResponseStatus.OK, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
                      HttpUtil.setContentLength(response, response.content().readableBytes());
                      HttpUtil.setKeepAlive(response, keepAlive);
                      CompletableFuture<Void> wait = gate;
                      Runnable answer = () -> {
                        var f = ctx.writeAndFlush(response);
                        if (!keepAlive) {
                          f.addListener(io.netty.channel.ChannelFutureListener.CLOSE);
                        }
                      };
                      if (wait == null) {
                        answer.run();
                      } else {
                        wait.thenRun(() -> ctx.executor().execute(answer));
                      }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                      ctx.close();
                    }
                  });
              children.add(ch);
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    int port() {
      return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    @Override
    public void close() throws InterruptedException {
      channel.close().sync();
    }
  }

  /** One answer: its body (null if the connection closed first) and whether it said Connection: close. */
  record Answer(String body, boolean close) {}

  /** One client connection. */
  static final class Conn implements AutoCloseable {
    final Channel channel;
    final BlockingQueue<Answer> answers = new LinkedBlockingQueue<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();

    private Conn(EventLoopGroup group, InetSocketAddress address, Function<Channel, ChannelHandler> tls)
        throws InterruptedException {
      channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(tls.apply(ch), new HttpClientCodec(), new HttpObjectAggregator(1 << 16),
                  new SimpleChannelInboundHandler<FullHttpResponse>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                      answers.add(new Answer(r.content().toString(StandardCharsets.UTF_8), !HttpUtil.isKeepAlive(r)));
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                      errors.add(cause);
                      ctx.close();
                    }
                  });
            }
          })
          .connect(address).sync().channel();
    }

    static Conn open(EventLoopGroup group, ClientTls tls, InetSocketAddress address) throws InterruptedException {
      return new Conn(group, address, ch -> tls);
    }

    /** Sends a POST and waits for its answer; null if the connection closed (or 10 s passed) first. */
    Answer request(String body) throws InterruptedException {
      FullHttpRequest request = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, "/echo",
          Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
      request.headers().set(HttpHeaderNames.HOST, "orders.shop.svc");
      request.headers().set("x-request", body);
      HttpUtil.setContentLength(request, request.content().readableBytes());
      channel.writeAndFlush(request);
      long deadline = System.nanoTime() + Echo.TIMEOUT.toNanos();
      while (System.nanoTime() < deadline) {
        Answer a = answers.poll(50, TimeUnit.MILLISECONDS);
        if (a != null) {
          return a;
        }
        if (!channel.isActive() && answers.isEmpty()) {
          return null;
        }
      }
      return null;
    }

    X509Certificate serverLeaf() throws Exception {
      return (X509Certificate) channel.pipeline().get(SslHandler.class).engine().getSession().getPeerCertificates()[0];
    }

    @Override
    public void close() throws InterruptedException {
      channel.close().sync();
    }
  }

  /**
   * A keep-alive client as HTTP clients are: it reuses its connection until an answer says
   * {@code Connection: close} or the connection has closed between requests, and then dials a new
   * one. It sends a request again only when the server closed the connection without ever decoding
   * its head, told by the server's own record ({@link Server#heads}): a server may close a quiet
   * kept-alive connection just as the client writes on it (HTTP/1.1 lets a client retry such a
   * request), while a request whose head the server decoded is an exchange in flight, which must be
   * answered: never retried.
   */
  static final class KeepAliveClient implements AutoCloseable {
    private final EventLoopGroup group;
    private final ClientTls tls;
    private final InetSocketAddress address;
    private final java.util.Set<String> serverHeads;
    Conn conn;
    /** How many connections it has dialled. */
    final AtomicLong dialled = new AtomicLong();
    /** Requests sent again because the server closed their connection before it read them. */
    final AtomicLong resent = new AtomicLong();

    /** A client of {@code server}, whose record of request heads tells which requests it never read. */
    KeepAliveClient(EventLoopGroup group, ClientTls tls, InetSocketAddress address, Server server)
        throws InterruptedException {
      this.group = group;
      this.tls = tls;
      this.address = address;
      this.serverHeads = server.heads;
      dial();
    }

    private void dial() throws InterruptedException {
      conn = Conn.open(group, tls, address);
      dialled.incrementAndGet();
    }

    /** Sends {@code body}, a request body unique to this client's server. */
    Answer request(String body) throws InterruptedException {
      if (!conn.channel.isActive()) {
        dial();
      }
      Answer a = conn.request(body);
      if (a == null && !conn.channel.isActive() && !serverHeads.contains(body)) {
        // The server closed the connection before it decoded this request's head, the start of an
        // exchange: send it once more, on a new connection.
        resent.incrementAndGet();
        conn.close();
        dial();
        a = conn.request(body);
      }
      if (a != null && a.close()) {
        conn.channel.closeFuture().await(Echo.TIMEOUT.toMillis());
        conn.close();
        dial();
      }
      return a;
    }

    @Override
    public void close() throws InterruptedException {
      conn.close();
    }
  }

  /**
   * Sends a request on each of {@code clients} in turn until {@code stop}, counting answers in
   * {@code answered} and adding anything else to {@code failures}.
   */
  static void talk(List<KeepAliveClient> clients, AtomicBoolean stop, AtomicLong answered, List<String> failures) {
    int n = 0;
    while (!stop.get()) {
      for (KeepAliveClient client : clients) {
        String body = "long-" + n++;
        try {
          Answer a = client.request(body);
          if (a == null || !body.equals(a.body())) {
            failures.add(body + ": got " + a + ", errors " + client.conn.errors);
          } else {
            answered.incrementAndGet();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }
}
