package dev.kubemtls.testkit.internal;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/** Health probes of the control plane's own loopback child processes. */
final class Probes {

  private Probes() {}

  /** Whether {@code url} answers 200. Only for our own loopback processes: the server is not verified. */
  static boolean healthy(String url) throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {new TrustAll()}, null);
    HttpClient client = HttpClient.newBuilder().sslContext(ctx).version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create(url))
        .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
    return response.statusCode() == 200;
  }

  /** Only for probing the health endpoints of our own loopback child processes. */
  private static final class TrustAll extends X509ExtendedTrustManager {
    @Override public void checkClientTrusted(X509Certificate[] c, String a) { }
    @Override public void checkServerTrusted(X509Certificate[] c, String a) { }
    @Override public void checkClientTrusted(X509Certificate[] c, String a, Socket s) { }
    @Override public void checkServerTrusted(X509Certificate[] c, String a, Socket s) { }
    @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) { }
    @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) { }
    @Override public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }
}
