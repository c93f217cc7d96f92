package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/** The conformance suite's view of mtls-netty: an echo server on {@link ServerTls}, a client on {@link ClientTls}, one connection per call. */
final class NettyIntegration implements TlsIntegration {

  private final TlsProvider provider;

  NettyIntegration(TlsProvider provider) {
    this.provider = provider;
  }

  @Override
  public String name() {
    return "netty " + provider;
  }

  @Override
  public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    ServerTls tls = NettyMtls.forServer(source).provider(provider).policy(policy).peerPolicy(peers)
        .listener(listener).build();
    EventLoopGroup group = Echo.group(2);
    Echo.Server echo = new Echo.Server(group, tls);
    return new Server() {
      @Override
      public int port() {
        return echo.port();
      }

      @Override
      public void close() throws Exception {
        echo.close();
        tls.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      }
    };
  }

  @Override
  public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    ClientTls tls = NettyMtls.forClient(source).provider(provider).policy(policy).peerPolicy(peers)
        .listener(listener).build();
    EventLoopGroup group = Echo.group(2);
    return new Client() {
      @Override
      public String call(int port) throws Exception {
        try (Echo.Conn conn = Echo.Conn.open(group, tls, new InetSocketAddress("127.0.0.1", port))) {
          String answer = conn.request("ping");
          if (answer == null) {
            throw new IOException("no answer from 127.0.0.1:" + port + "; errors " + conn.errors);
          }
          return answer;
        }
      }

      @Override
      public void close() throws Exception {
        tls.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      }
    };
  }

  @Override
  public String probe() {
    return "ping\n";
  }

  @Override
  public String okLine() {
    return "ping";
  }
}
