package dev.kubemtls.core.tls;

import dev.kubemtls.core.testing.conformance.JdkHttpsServer;
import dev.kubemtls.core.testing.conformance.JdkServerClientSuite;
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
class JdkConformanceTest extends JdkServerClientSuite {

  @Override
  protected String clientName() {
    return "jdk";
  }

  @Override
  protected TlsIntegration.Client client(MtlsJdkTls tls) {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .sslContext(tls.sslContext()).sslParameters(tls.sslParameters())
        .connectTimeout(Duration.ofSeconds(10)).build();
    return new TlsIntegration.Client() {
      @Override
      public String call(int port) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/"))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return statusLine(r.statusCode());
      }

      @Override
      public void close() {
        tls.close();
      }
    };
  }
}
