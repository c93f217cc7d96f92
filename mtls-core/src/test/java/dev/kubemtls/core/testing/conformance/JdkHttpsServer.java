package dev.kubemtls.core.testing.conformance;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A {@link TlsIntegration.Server} for adapters whose server side is core's JDK engine: the JDK's own
 * HTTPS server ({@code com.sun.net.httpserver}, which takes an engine per connection from the
 * context) with an {@link MtlsJdkTls} server, answering {@code 200 ok} to every request. The JDK
 * adapter uses it, and so do HTTP client integrations whose suite is about their clients.
 */
public final class JdkHttpsServer implements TlsIntegration.Server {

  /** What an outside peer sends: one request, then the server closes. */
  public static final String PROBE = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  /** The first line of the answer to {@link #PROBE}. */
  public static final String OK_LINE = "HTTP/1.1 200 OK";

  private final MtlsJdkTls tls;
  private final HttpsServer https;
  private final ExecutorService threads = Executors.newFixedThreadPool(4);

  private JdkHttpsServer(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws IOException {
    this.tls = MtlsJdkTls.forServer(source).tlsPolicy(policy).peerPolicy(peers).listener(listener).build();
    this.https = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
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
    https.setExecutor(threads);
    https.start();
  }

  /** Starts a server on 127.0.0.1 whose handshakes are reported to {@code listener} as {@code SERVER}. */
  public static JdkHttpsServer start(MaterialSource source, TlsPolicy policy, PeerPolicy peers,
      TlsListener listener) throws IOException {
    return new JdkHttpsServer(source, policy, peers, listener);
  }

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
}
