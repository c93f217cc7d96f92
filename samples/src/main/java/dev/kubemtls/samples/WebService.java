package dev.kubemtls.samples;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.netty.ClientTls;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.servlet.JettyMtls;
import dev.kubemtls.servlet.MtlsPeerFilter;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Duration;
import java.util.EnumSet;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;

/**
 * A Jetty servlet service over mTLS that answers callers from its own namespace and, to do so,
 * calls the Netty echo server with its own client certificate: two TLS stacks, one identity that is
 * renewed underneath both.
 */
public final class WebService {

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    int port = Integer.parseInt(SampleSupport.env("LISTEN_PORT", "8443"));
    String[] echo = SampleSupport.address("ECHO_ADDRESS");
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");

    try (KubernetesClient client = new KubernetesClientBuilder().build();
         KubeMtls certificates = SampleSupport.startWorkload(client);
         ClientTls echoTls = NettyMtls.forClient(certificates).build()) {
      EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
      LineClient echoClient = new LineClient(echoTls, group);

      Server server = new Server();
      server.addConnector(JettyMtls.forServer(certificates).host(host).port(port).newConnector(server));
      ServletContextHandler context = new ServletContextHandler();
      context.addFilter(new FilterHolder(MtlsPeerFilter.builder()
          .policy(PeerPolicy.builder().allowNamespace(namespace).build()).build()),
          "/*", EnumSet.of(DispatcherType.REQUEST));
      context.addServlet(new ServletHolder(new HttpServlet() {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
          PeerIdentity caller = (PeerIdentity) req.getAttribute(MtlsPeerFilter.PEER_IDENTITY_ATTRIBUTE);
          resp.setContentType("text/plain;charset=utf-8");
          try {
            String answer = echoClient.call(echo[0], Integer.parseInt(echo[1]), "hello from web for "
                + caller.displayName(), Duration.ofSeconds(5));
            resp.getWriter().println("web answers " + req.getUserPrincipal().getName() + "; echo said: " + answer);
          } catch (IOException e) {
            resp.sendError(502, "the echo service failed: " + e.getMessage());
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            resp.sendError(503, "shutting down");
          }
        }
      }), "/hello");
      server.setHandler(context);
      server.setStopAtShutdown(true);
      server.start();
      DemoEvents.emit("ready", "listening=" + host + ":" + port);
      try {
        server.join();
      } finally {
        group.shutdownGracefully().syncUninterruptibly();
      }
    }
  }
}
