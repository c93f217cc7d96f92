package dev.kubemtls.samples;

import dev.kubemtls.core.files.FileMaterialSource;
import dev.kubemtls.core.files.FileTrustSource;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.string.StringDecoder;
import io.netty.handler.codec.string.StringEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The echo server of {@link EchoServer}, with the certificate the kubelet writes instead of one it
 * requests itself: no Kubernetes client, no API access. The kubelet makes the key, has the signer
 * ({@code mtls-signer} with {@code --pod-certificates=true}) issue it through a
 * PodCertificateRequest and writes key and chain into the {@code podCertificate} projected volume
 * ({@code KMTLS_CREDENTIAL_BUNDLE}, default {@code /var/run/kube-mtls/pod/credentialbundle.pem});
 * the CA bundle comes from a projected file ({@code KMTLS_TRUST_BUNDLE}, default
 * {@code /var/run/kube-mtls/ca/ca.crt}). Both are followed through the kubelet's renewals and CA
 * rotations. See {@code samples/k8s/pod-certificates/} for the manifests.
 */
public final class PodCertificateEchoServer {

  private PodCertificateEchoServer() {}

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    int port = Integer.parseInt(SampleSupport.env("LISTEN_PORT", "8443"));
    Path credentials = Path.of(SampleSupport.env("KMTLS_CREDENTIAL_BUNDLE", "/var/run/kube-mtls/pod/credentialbundle.pem"));
    Path bundle = Path.of(SampleSupport.env("KMTLS_TRUST_BUNDLE", "/var/run/kube-mtls/ca/ca.crt"));
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (FileTrustSource trust = FileTrustSource.of(bundle, InstantSource.system(), scheduler, Duration.ofSeconds(2));
         FileMaterialSource certificates = FileMaterialSource.forCredentialBundle(credentials)
             .trust(trust).scheduler(scheduler).build()) {
      trust.start();
      certificates.start().get(120, TimeUnit.SECONDS);
      DemoEvents.emit("cert_issued", SampleSupport.describe(certificates.current().identity()));
      try (ServerTls tls = NettyMtls.forServer(certificates).build()) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        try {
          Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
              .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                  ch.pipeline().addLast(tls, new LineBasedFrameDecoder(4096),
                      new StringDecoder(StandardCharsets.UTF_8), new StringEncoder(StandardCharsets.UTF_8),
                      new EchoServer.Echo());
                }
              })
              .bind(host, port).sync().channel();
          DemoEvents.emit("ready", "listening=" + host + ":" + port, "tls=" + tls.provider(), "source=pod-certificate");
          Runtime.getRuntime().addShutdownHook(new Thread(server::close));
          server.closeFuture().sync();
        } finally {
          group.shutdownGracefully().syncUninterruptibly();
        }
      }
    } finally {
      scheduler.shutdownNow();
    }
  }
}
