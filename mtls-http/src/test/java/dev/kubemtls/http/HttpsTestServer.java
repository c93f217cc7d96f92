package dev.kubemtls.http;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLSession;

/**
 * A real HTTPS server on Netty with kube-mtls' {@link ServerTls}: answers {@code ok} to every request
 * (closing after the response when the request asks to), and knows, for each open connection, the
 * issuer of the certificate it presented and the serial of the client's.
 */
final class HttpsTestServer implements AutoCloseable {

  /** What the server knows of one open connection, once it carried a request. */
  record Conn(String serverIssuer, String clientSerial) {}

  private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
  private final ServerTls tls;
  private final Channel channel;
  private final Map<Channel, Conn> open = new ConcurrentHashMap<>();

  HttpsTestServer(MaterialSource source) throws InterruptedException {
    this.tls = NettyMtls.forServer(source).build();
    this.channel = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.closeFuture().addListener(f -> open.remove(ch));
            ch.pipeline().addLast(tls, new HttpServerCodec(), new HttpObjectAggregator(65536),
                new SimpleChannelInboundHandler<FullHttpRequest>() {
                  @Override
                  protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
                    remember(ctx.channel());
                    FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                        HttpResponseStatus.OK, Unpooled.copiedBuffer("ok", StandardCharsets.UTF_8));
                    response.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain");
                    HttpUtil.setContentLength(response, 2);
                    boolean keepAlive = HttpUtil.isKeepAlive(request);
                    if (!keepAlive) {
                      response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                    }
                    var written = ctx.writeAndFlush(response);
                    if (!keepAlive) {
                      written.addListener(ChannelFutureListener.CLOSE);
                    }
                  }

                  @Override
                  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                    ctx.close();
                  }
                });
          }
        })
        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
  }

  private void remember(Channel ch) {
    if (open.containsKey(ch) || !ch.isOpen()) {
      return;
    }
    SSLSession session = ch.pipeline().get(SslHandler.class).engine().getSession();
    Certificate[] local = session.getLocalCertificates();
    String issuer = ((X509Certificate) local[0]).getIssuerX500Principal().getName();
    String serial;
    try {
      serial = ((X509Certificate) session.getPeerCertificates()[0]).getSerialNumber().toString(16);
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      serial = "none";
    }
    open.put(ch, new Conn(issuer, serial));
    if (!ch.isOpen()) {
      open.remove(ch);
    }
  }

  URI uri() {
    return URI.create("https://127.0.0.1:" + ((InetSocketAddress) channel.localAddress()).getPort() + "/");
  }

  /** The open connections that carried a request. */
  List<Conn> openConnections() {
    return List.copyOf(open.values());
  }

  @Override
  public void close() throws InterruptedException {
    channel.close().sync();
    tls.close();
    group.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).sync();
  }
}
