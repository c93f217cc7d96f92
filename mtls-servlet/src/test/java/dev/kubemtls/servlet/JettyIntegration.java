package dev.kubemtls.servlet;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The conformance suite's view of mtls-servlet: a Jetty server with a kube-mtls connector and a
 * servlet, and a Jetty {@link HttpClient} from {@link JettyMtls#forClient}, a new connection per call.
 */
final class JettyIntegration implements TlsIntegration {

  @Override
  public String name() {
    return "jetty";
  }

  @Override
  public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    TestServer server = new TestServer(source, b -> b.policy(policy).peerPolicy(peers).listener(listener), null);
    return new Server() {
      @Override
      public int port() {
        return server.connector.getLocalPort();
      }

      @Override
      public void close() throws Exception {
        server.close();
      }
    };
  }

  @Override
  public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    HttpClient http = JettyMtls.forClient(source).policy(policy).peerPolicy(peers).listener(listener).newHttpClient();
    http.start();
    return new Client() {
      @Override
      public String call(int port) throws Exception {
        ContentResponse r = http.newRequest(URI.create("https://127.0.0.1:" + port + "/conformance"))
            .headers(h -> h.put(HttpHeader.CONNECTION, "close")).timeout(10, TimeUnit.SECONDS).send();
        return r.getVersion() + " " + r.getStatus() + " " + r.getReason();
      }

      @Override
      public void close() throws Exception {
        http.stop();
      }
    };
  }

  @Override
  public String probe() {
    return "GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  }

  @Override
  public String okLine() {
    return "HTTP/1.1 200 OK";
  }
}
