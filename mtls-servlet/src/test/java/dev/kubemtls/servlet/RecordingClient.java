package dev.kubemtls.servlet;

import dev.kubemtls.core.MaterialSource;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.ssl.SslHandshakeListener;
import org.eclipse.jetty.util.SocketAddressResolver;

/**
 * A started Jetty client from {@link JettyMtls#forClient} that records, for each TLS handshake,
 * the serial of the certificate the server presented. Meant for one caller thread at a time.
 */
final class RecordingClient implements AutoCloseable {

  final HttpClient http;
  final AtomicInteger handshakes = new AtomicInteger();
  final AtomicReference<String> lastServerSerial = new AtomicReference<>();

  RecordingClient(MaterialSource source) throws Exception {
    this(source, null);
  }

  /** With {@code resolver} (if not null) in place of DNS, to dial names that resolve nowhere. */
  RecordingClient(MaterialSource source, SocketAddressResolver resolver) throws Exception {
    this(source, resolver, b -> b);
  }

  /** With {@code options} applied to the client builder, e.g. a listener. */
  RecordingClient(MaterialSource source, SocketAddressResolver resolver,
      UnaryOperator<JettyMtls.ClientBuilder> options) throws Exception {
    http = options.apply(JettyMtls.forClient(source)).newHttpClient();
    if (resolver != null) {
      http.setSocketAddressResolver(resolver);
    }
    http.setMaxConnectionsPerDestination(4);
    http.addBean(new SslHandshakeListener() {
      @Override
      public void handshakeSucceeded(Event event) {
        lastServerSerial.set(TestServer.peerSerial(event.getSSLEngine()));
        handshakes.incrementAndGet();
      }
    });
    http.start();
  }

  /** A GET; with {@code newConnection} the connection is closed after the response. */
  ContentResponse get(URI uri, boolean newConnection) throws Exception {
    var request = http.newRequest(uri).timeout(10, TimeUnit.SECONDS);
    if (newConnection) {
      request.headers(h -> h.put(HttpHeader.CONNECTION, "close"));
    }
    return request.send();
  }

  @Override
  public void close() throws Exception {
    http.stop();
  }
}
