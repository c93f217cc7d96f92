package dev.kubemtls.netty;

import dev.kubemtls.core.peer.PeerIdentity;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.Future;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/** A line echo server and client over real sockets on 127.0.0.1. */
final class Echo {

  static final Duration TIMEOUT = Duration.ofSeconds(10);

  private Echo() {}

  static EventLoopGroup group(int threads) {
    return new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
  }

  /**
   * Two event loops shared by the tests of one class, shut down after the last:
   * {@code @RegisterExtension static final Echo.Loops LOOPS = new Echo.Loops();}.
   */
  static final class Loops implements BeforeAllCallback, AfterAllCallback {
    private EventLoopGroup group;

    @Override
    public void beforeAll(ExtensionContext context) {
      group = Echo.group(2);
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    EventLoopGroup group() {
      return group;
    }
  }

  /** {@code name} resolving to 127.0.0.1 without DNS, so the client dials that name. */
  static InetSocketAddress named(String name, int port) {
    try {
      return new InetSocketAddress(InetAddress.getByAddress(name, new byte[] {127, 0, 0, 1}), port);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A server whose accepted channels go through {@code tls}, then echo each line. */
  static final class Server implements AutoCloseable {
    final Channel channel;
    final BlockingQueue<Future<PeerIdentity>> peers = new LinkedBlockingQueue<>();
    final BlockingQueue<Channel> children = new LinkedBlockingQueue<>();

    Server(EventLoopGroup group, ChannelHandler tls) throws InterruptedException {
      channel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(tls, new LineBasedFrameDecoder(4096),
                  new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                  new SimpleChannelInboundHandler<String>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, String line) {
                      ctx.writeAndFlush(line + "\n");
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                      ctx.close();
                    }
                  });
              peers.add(NettyMtls.peerFuture(ch));
              children.add(ch);
            }
          })
          .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    int port() {
      return ((InetSocketAddress) channel.localAddress()).getPort();
    }

    Future<PeerIdentity> nextPeer() throws InterruptedException {
      Future<PeerIdentity> f = peers.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      if (f == null) {
        throw new AssertionError("the server accepted no connection");
      }
      f.await(TIMEOUT.toMillis());
      if (!f.isDone()) {
        throw new AssertionError("the server never decided on the peer");
      }
      return f;
    }

    @Override
    public void close() throws InterruptedException {
      channel.close().sync();
    }
  }

  /** One client connection with its responses, errors and events. */
  static final class Conn implements AutoCloseable {
    final Channel channel;
    final BlockingQueue<String> responses = new LinkedBlockingQueue<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();
    final List<Object> events = new CopyOnWriteArrayList<>();

    private Conn(EventLoopGroup group, InetSocketAddress address, Function<Conn, ChannelHandler> tls)
        throws InterruptedException {
      this(group, address, tls, null);
    }

    private Conn(EventLoopGroup group, InetSocketAddress address, Function<Conn, ChannelHandler> tls, String first)
        throws InterruptedException {
      Conn self = this;
      Bootstrap b = new Bootstrap().group(group).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(tls.apply(self), new LineBasedFrameDecoder(4096),
                  new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                  new SimpleChannelInboundHandler<String>() {
                    @Override
                    public void channelActive(ChannelHandlerContext ctx) {
                      ctx.fireChannelActive();
                      if (first != null) {
                        ctx.writeAndFlush(first + "\n");
                      }
                    }

                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, String line) {
                      responses.add(line);
                    }

                    @Override
                    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
                      events.add(evt);
                      ctx.fireUserEventTriggered(evt);
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                      errors.add(cause);
                      ctx.close();
                    }
                  });
            }
          });
      channel = b.connect(address).sync().channel();
    }

    /** Connects through a {@link ClientTls}. */
    static Conn open(EventLoopGroup group, ClientTls tls, InetSocketAddress address)
        throws InterruptedException {
      return new Conn(group, address, c -> tls);
    }

    /**
     * Connects through a {@link ClientTls} with {@code first} written as soon as the connection is
     * open: the TLS handler holds it until the handshake is done and sends it right behind the
     * client's last handshake message, so the server reads it as its handshake completes, whatever
     * the test thread is doing. Its echo is {@link #response()}.
     */
    static Conn openSending(EventLoopGroup group, ClientTls tls, InetSocketAddress address, String first)
        throws InterruptedException {
      return new Conn(group, address, c -> tls, first);
    }

    /** Connects with a handler built per connection (for plain Netty contexts). */
    static Conn open(EventLoopGroup group, InetSocketAddress address, Function<Channel, ChannelHandler> tls)
        throws InterruptedException {
      return new Conn(group, address, c -> new ChannelInitializer<Channel>() {
        @Override
        protected void initChannel(Channel ch) {
          ch.pipeline().addAfter(ch.pipeline().context(this).name(), null, tls.apply(ch));
        }
      });
    }

    Future<PeerIdentity> peer() throws InterruptedException {
      Future<PeerIdentity> f = NettyMtls.peerFuture(channel);
      f.await(TIMEOUT.toMillis());
      if (!f.isDone()) {
        throw new AssertionError("the client never decided on the peer");
      }
      return f;
    }

    /** Sends a line and waits for its echo; null if none came before the timeout or close. */
    String request(String line) throws InterruptedException {
      channel.writeAndFlush(line + "\n");
      return response();
    }

    /** Waits for the next line the server sends; null if none came before the timeout or close. */
    String response() throws InterruptedException {
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (System.nanoTime() < deadline) {
        String r = responses.poll(50, TimeUnit.MILLISECONDS);
        if (r != null) {
          return r;
        }
        if (!channel.isActive() && responses.isEmpty()) {
          return null;
        }
      }
      return null;
    }

    SslHandler ssl() {
      return channel.pipeline().get(SslHandler.class);
    }

    /** The leaf certificate the server presented. */
    X509Certificate serverLeaf() throws Exception {
      return (X509Certificate) ssl().engine().getSession().getPeerCertificates()[0];
    }

    @Override
    public void close() throws InterruptedException {
      channel.close().sync();
    }
  }

  /**
   * Sends a line on each of {@code conns} in turn until {@code stop}, counting echoes in
   * {@code echoed} and adding anything else to {@code failures}.
   */
  static void talk(List<Conn> conns, AtomicBoolean stop, AtomicLong echoed, List<String> failures) {
    int n = 0;
    while (!stop.get()) {
      for (Conn conn : conns) {
        String line = "long-" + n++;
        try {
          String response = conn.request(line);
          if (!line.equals(response)) {
            failures.add(line + ": got " + response + ", errors " + conn.errors);
          } else {
            echoed.incrementAndGet();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }
}
