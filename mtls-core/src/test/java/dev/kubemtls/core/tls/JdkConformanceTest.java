package dev.kubemtls.core.tls;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.JdkHttpsServer;
import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * The conformance suite on the JDK path: {@link MtlsJdkTls} under the JDK's own HTTPS server
 * ({@link JdkHttpsServer}) and its {@code java.net.http} client.
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
        return JdkHttpsServer.start(source, policy, peers, listener);
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
        return JdkHttpsServer.PROBE;
      }

      @Override
      public String okLine() {
        return JdkHttpsServer.OK_LINE;
      }
    };
  }
}
