package dev.kubemtls.samples;

import dev.kubemtls.netty.ClientTls;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A blocking line-protocol client over Netty with mTLS, enough for the echo server: one request,
 * one answer line. A {@link Connection} may carry many requests, one at a time.
 */
final class LineClient {

  private static final String CLOSED = "\u0000closed";

  private final ClientTls tls;
  private final EventLoopGroup group;

  LineClient(ClientTls tls, EventLoopGroup group) {
    this.tls = tls;
    this.group = group;
  }

  /** Opens a connection: the TLS handshake uses the identity and trust current at this moment. */
  Connection open(String host, int port, Duration timeout) throws IOException, InterruptedException {
    BlockingQueue<String> answers = new LinkedBlockingQueue<>();
    var future = new Bootstrap().group(group).channel(NioSocketChannel.class)
        .option(io.netty.channel.ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeout.toMillis())
        .handler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            ch.pipeline().addLast(tls, new LineBasedFrameDecoder(4096),
                new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                new SimpleChannelInboundHandler<String>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, String line) {
                    answers.add(line);
                  }

                  @Override
                  public void channelInactive(ChannelHandlerContext ctx) {
                    answers.add(CLOSED);
                  }

                  @Override
                  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    answers.add(CLOSED + ": " + rootMessage(cause));
                    ctx.close();
                  }
                });
          }
        }).connect(host, port);
    if (!future.await(timeout.toMillis(), TimeUnit.MILLISECONDS) || !future.isSuccess()) {
      future.channel().close();
      throw new IOException("cannot connect to " + host + ":" + port + ": "
          + (future.cause() == null ? "timed out" : rootMessage(future.cause())));
    }
    return new Connection(future.channel(), answers, host + ":" + port);
  }

  /** A new connection for one request: a full handshake each time. */
  String call(String host, int port, String line, Duration timeout) throws IOException, InterruptedException {
    try (Connection c = open(host, port, timeout)) {
      return c.request(line, timeout);
    }
  }

  static String rootMessage(Throwable t) {
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  /** One open connection. Not thread-safe: one request at a time. */
  static final class Connection implements AutoCloseable {
    private final Channel channel;
    private final BlockingQueue<String> answers;
    private final String target;

    Connection(Channel channel, BlockingQueue<String> answers, String target) {
      this.channel = channel;
      this.answers = answers;
      this.target = target;
    }

    String request(String line, Duration timeout) throws IOException, InterruptedException {
      if (!channel.isActive()) {
        throw new IOException("connection to " + target + " is closed");
      }
      channel.writeAndFlush(line + "\n");
      String answer = answers.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (answer == null) {
        throw new IOException("no answer from " + target + " within " + timeout.toMillis() + " ms");
      }
      if (answer.startsWith(CLOSED)) {
        throw new IOException("connection to " + target + " closed" + answer.substring(CLOSED.length()));
      }
      return answer;
    }

    boolean isOpen() {
      return channel.isActive();
    }

    @Override
    public void close() {
      channel.close().syncUninterruptibly();
    }
  }
}
