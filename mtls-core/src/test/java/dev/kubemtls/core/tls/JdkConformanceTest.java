package dev.kubemtls.core.tls;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The conformance suite on the JDK path: {@link MtlsJdkTls} under the JDK's own HTTPS server
 * ({@code com.sun.net.httpserver}, which takes an engine per connection from the context) and its
 * {@code java.net.http} client.
 */
class JdkConformanceTest extends TlsConformanceSuite {

  @Override
  protected TlsIntegration integration() {
    return new TlsIntegration() {
      @Override
      public String name() {
        return "jdk";
      }

      @Override
      public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        MtlsJdkTls tls = MtlsJdkTls.forServer(source).tlsPolicy(policy).peerPolicy(peers).listener(listener).build();
        HttpsServer https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        https.setHttpsConfigurator(new HttpsConfigurator(tls.sslContext()) {
          @Override
          public void configure(HttpsParameters params) {
            // The policy's server parameters (client certificate demanded), not the server's defaults.
            params.setSSLParameters(tls.sslParameters());
          }
        });
        https.createContext("/", exchange -> {
          byte[] body = "ok".getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(200, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
        ExecutorService threads = Executors.newFixedThreadPool(4);
        https.setExecutor(threads);
        https.start();
        return new Server() {
          @Override
          public int port() {
            return https.getAddress().getPort();
          }

          @Override
          public void close() {
            https.stop(0);
            threads.shutdownNow();
            tls.close();
          }
        };
      }

      @Override
      public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        MtlsJdkTls tls = MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(peers).listener(listener).build();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .sslContext(tls.sslContext()).sslParameters(tls.sslParameters())
            .connectTimeout(Duration.ofSeconds(10)).build();
        return new Client() {
          @Override
          public String call(int port) throws Exception {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            return "HTTP/1.1 " + r.statusCode() + (r.statusCode() == 200 ? " OK" : "");
          }

          @Override
          public void close() {
            tls.close();
          }
        };
      }

      @Override
      public String probe() {
        return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      }

      @Override
      public String okLine() {
        return "HTTP/1.1 200 OK";
      }
    };
  }
}
