package dev.kubemtls.spring;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.MtlsSslContexts;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * A real HTTPS server (the JDK's) that requires a client certificate, presents {@code source}'s
 * current certificate on each new connection, keeps connections alive and never closes one on its
 * own, so that whether a client reuses a connection is the client's decision alone. {@code /port}
 * answers with the client's TCP port: the same port, the same connection.
 */
final class KeepAliveBackend implements AutoCloseable {

  private final HttpsServer server;
  private final ExecutorService executor = Executors.newFixedThreadPool(8);

  KeepAliveBackend(MaterialSource source) throws IOException {
    SSLContext context = MtlsSslContexts.following(source);
    server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
    server.setHttpsConfigurator(new HttpsConfigurator(context) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = context.getDefaultSSLParameters();
        p.setNeedClientAuth(true);
        params.setSSLParameters(p);
      }
    });
    server.createContext("/port", exchange -> {
      byte[] body = Integer.toString(exchange.getRemoteAddress().getPort()).getBytes(StandardCharsets.US_ASCII);
      exchange.getResponseHeaders().set("Content-Type", "text/plain");
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    });
    server.setExecutor(executor);
    server.start();
  }

  URI uri() {
    return URI.create("https://localhost:" + server.getAddress().getPort());
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
