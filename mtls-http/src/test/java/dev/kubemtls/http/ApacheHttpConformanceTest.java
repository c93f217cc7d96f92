package dev.kubemtls.http;

import dev.kubemtls.core.testing.conformance.JdkServerClientSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.io.IOException;
import java.time.Duration;
import org.apache.hc.client5.http.classic.methods.HttpGet;
import org.apache.hc.core5.http.io.entity.EntityUtils;

/** The conformance suite's client half through {@link MtlsApacheHttp} (HttpClient 5, classic). */
class ApacheHttpConformanceTest extends JdkServerClientSuite {

  @Override
  protected String clientName() {
    return "apache-httpclient5";
  }

  @Override
  protected TlsIntegration.Client client(MtlsJdkTls tls) {
    MtlsApacheHttp http = MtlsApacheHttp.create(tls, b -> b, Duration.ofSeconds(10));
    return new TlsIntegration.Client() {
      @Override
      public String call(int port) throws Exception {
        return http.client().execute(new HttpGet("https://127.0.0.1:" + port + "/"), response -> {
          EntityUtils.consume(response.getEntity());
          return statusLine(response.getCode());
        });
      }

      @Override
      public void close() throws IOException {
        http.close();
        tls.close();
      }
    };
  }
}
