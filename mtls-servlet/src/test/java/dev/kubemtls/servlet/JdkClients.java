package dev.kubemtls.servlet;

import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.core.TrustBundle;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.GeneralSecurityException;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;

/** JDK {@code HttpClient}s for calling a {@link TestServer} as clients other than Jetty's. */
final class JdkClients {

  private JdkClients() {}

  /** An HTTP/1.1 client over {@code context} with kube-mtls's protocol and cipher policy. */
  static HttpClient client(SSLContext context) {
    return client(context, MtlsSslContexts.sslParameters());
  }

  static HttpClient client(SSLContext context, SSLParameters parameters) {
    return HttpClient.newBuilder().sslContext(context).sslParameters(parameters)
        .version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
  }

  static HttpResponse<String> get(HttpClient client, URI uri) throws Exception {
    return client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** A context that trusts {@code trust} and has no certificate to present. */
  static SSLContext withoutCertificate(TrustBundle trust) throws GeneralSecurityException {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, new TrustManager[] {trust.trustManager()}, null);
    return context;
  }
}
