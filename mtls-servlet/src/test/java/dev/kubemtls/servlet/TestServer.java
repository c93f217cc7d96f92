package dev.kubemtls.servlet;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerIdentity;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLEngine;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.io.ssl.SslHandshakeListener;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * A real Jetty server on 127.0.0.1 with a kube-mtls connector and a servlet that answers with what
 * it sees of the peer: {@code spiffe=... ns=... sa=... principal=... auth=...}.
 */
final class TestServer implements AutoCloseable {

  final Server server;
  final ServerConnector connector;
  final AtomicInteger servletCalls = new AtomicInteger();
  final List<Throwable> handshakeFailures = new CopyOnWriteArrayList<>();

  TestServer(MaterialSource source, UnaryOperator<JettyMtls.ServerBuilder> options, FilterHolder filter)
      throws Exception {
    QueuedThreadPool threads = new QueuedThreadPool(24, 4);
    threads.setName("test-server");
    server = new Server(threads);
    connector = options.apply(JettyMtls.forServer(source).host("127.0.0.1").port(0)).newConnector(server);
    connector.addBean(new SslHandshakeListener() {
      @Override
      public void handshakeFailed(Event event, Throwable failure) {
        handshakeFailures.add(failure);
      }
    });
    server.addConnector(connector);
    ServletContextHandler context = new ServletContextHandler();
    context.addServlet(new ServletHolder(new EchoServlet()), "/*");
    if (filter != null) {
      context.addFilter(filter, "/*", EnumSet.of(DispatcherType.REQUEST));
    }
    server.setHandler(context);
    try {
      server.start();
    } catch (Exception e) {
      server.stop();
      throw e;
    }
  }

  static TestServer start(MaterialSource source, Filter filter) throws Exception {
    return new TestServer(source, b -> b, filter == null ? null : new FilterHolder(filter));
  }

  URI uri(String path) {
    return URI.create("https://127.0.0.1:" + connector.getLocalPort() + path);
  }

  @Override
  public void close() throws Exception {
    server.stop();
  }

  /** The server certificate serial (hex) a client saw on the engine of a finished handshake. */
  static String peerSerial(SSLEngine engine) {
    try {
      return ((java.security.cert.X509Certificate) engine.getSession().getPeerCertificates()[0])
          .getSerialNumber().toString(16);
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      throw new IllegalStateException(e);
    }
  }

  private final class EchoServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
      servletCalls.incrementAndGet();
      Object attribute = request.getAttribute(MtlsPeerFilter.PEER_IDENTITY_ATTRIBUTE);
      String body;
      if (attribute instanceof PeerIdentity peer) {
        body = "spiffe=" + peer.spiffeId().orElse("-") + " ns=" + peer.namespace().orElse("-")
            + " sa=" + peer.serviceAccount().orElse("-")
            + " principal=" + (request.getUserPrincipal() == null ? "-" : request.getUserPrincipal().getName())
            + " principalType=" + (request.getUserPrincipal() instanceof PeerPrincipal ? "PeerPrincipal" : "-")
            + " auth=" + request.getAuthType();
      } else {
        Object certs = request.getAttribute(MtlsPeerFilter.CERTIFICATE_ATTRIBUTE);
        body = "no-identity certs=" + (certs instanceof java.security.cert.X509Certificate[] c ? c.length : 0);
      }
      response.setContentType("text/plain;charset=UTF-8");
      response.getWriter().print(body);
    }
  }
}
