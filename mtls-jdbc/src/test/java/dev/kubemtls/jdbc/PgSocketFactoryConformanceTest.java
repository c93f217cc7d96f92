package dev.kubemtls.jdbc;

import dev.kubemtls.core.testing.conformance.JdkHttpsServer;
import dev.kubemtls.core.testing.conformance.JdkServerClientSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.MtlsJdkTls;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLSocket;

/**
 * The conformance suite's client half through {@link MtlsPgSocketFactory}, used as pgjdbc uses its
 * {@code sslfactory}: made by its {@code Properties} constructor from the registration's connection
 * properties, then layering TLS over an already connected socket ({@code createSocket(socket, host,
 * port, true)}) and starting the handshake. The PostgreSQL protocol around it (the SSLRequest before,
 * the startup after) is not part of this suite: the server half is core's JDK engine under an HTTPS
 * server, and the client speaks one HTTP request over the TLS socket. {@code PostgresMtlsIT} covers
 * pgjdbc and a real PostgreSQL.
 */
class PgSocketFactoryConformanceTest extends JdkServerClientSuite {

  private static final AtomicInteger NAMES = new AtomicInteger();

  @Override
  protected String clientName() {
    return "pgjdbc sslfactory";
  }

  @Override
  protected TlsIntegration.Client client(MtlsJdkTls tls) {
    MtlsPostgres.Registration registration = MtlsPostgres.register("conformance-" + NAMES.incrementAndGet(), tls);
    return new TlsIntegration.Client() {
      @Override
      public String call(int port) throws Exception {
        MtlsPgSocketFactory factory = new MtlsPgSocketFactory(registration.connectionProperties());
        Socket raw = new Socket();
        raw.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        raw.setSoTimeout(10_000);
        try (SSLSocket socket = (SSLSocket) factory.createSocket(raw, "127.0.0.1", port, true)) {
          socket.startHandshake();
          socket.getOutputStream().write(JdkHttpsServer.PROBE.getBytes(StandardCharsets.US_ASCII));
          socket.getOutputStream().flush();
          String line = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII))
              .readLine();
          if (line == null) {
            throw new java.io.EOFException("the server closed the connection without an answer");
          }
          return line;
        }
      }

      @Override
      public void close() {
        registration.close();
        tls.close();
      }
    };
  }
}
