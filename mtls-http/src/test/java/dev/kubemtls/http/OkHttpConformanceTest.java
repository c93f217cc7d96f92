package dev.kubemtls.http;

import dev.kubemtls.core.testing.conformance.JdkServerClientSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.time.Duration;
import okhttp3.Request;
import okhttp3.Response;

/** The conformance suite's client half through {@link MtlsOkHttp}. */
class OkHttpConformanceTest extends JdkServerClientSuite {

  @Override
  protected String clientName() {
    return "okhttp";
  }

  @Override
  protected TlsIntegration.Client client(MtlsJdkTls tls) {
    MtlsOkHttp http = MtlsOkHttp.create(tls, b -> b.callTimeout(Duration.ofSeconds(10)), Duration.ofSeconds(10));
    return new TlsIntegration.Client() {
      @Override
      public String call(int port) throws Exception {
        try (Response r = http.client().newCall(new Request.Builder().url("https://127.0.0.1:" + port + "/").build())
            .execute()) {
          return statusLine(r.code());
        }
      }

      @Override
      public void close() {
        http.close();
        tls.close();
      }
    };
  }
}
