package dev.kubemtls.samples;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import java.nio.charset.StandardCharsets;

/**
 * A Netty echo server over mTLS: every line a client sends comes back prefixed with the client's
 * verified identity. Its certificate is renewed while it runs; new connections get the new one.
 */
public final class EchoServer {

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    int port = Integer.parseInt(SampleSupport.env("LISTEN_PORT", "8443"));
    try (KubernetesClient client = new KubernetesClientBuilder().build();
         KubeMtls certificates = SampleSupport.startWorkload(client);
         // The demo's long-lived echo connection (a line every 90 ms, never quiet) outlives every
         // renewal and CA rotation on purpose: the default connection bound would end it by its
         // certificate's notAfter (see mtls-netty's README, "Connection lifetime").
         ServerTls tls = NettyMtls.forServer(certificates).unboundedConnections().build()) {
      EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
      try {
        Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
            .childHandler(new ChannelInitializer<SocketChannel>() {
              @Override
              protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast(tls, new LineBasedFrameDecoder(4096),
                    new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                    new Echo());
              }
            })
            .bind(host, port).sync().channel();
        DemoEvents.emit("ready", "listening=" + host + ":" + port, "tls=" + tls.provider());
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        server.closeFuture().sync();
      } finally {
        group.shutdownGracefully().syncUninterruptibly();
      }
    }
  }

  /** Answers each line with the caller's SPIFFE ID and the line. */
  static final class Echo extends SimpleChannelInboundHandler<String> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, String line) {
      String peer = NettyMtls.peer(ctx.channel()).map(p -> p.displayName()).orElse("unknown");
      ctx.writeAndFlush("echo to " + peer + ": " + line + "\n");
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
