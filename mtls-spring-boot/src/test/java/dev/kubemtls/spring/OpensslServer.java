package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.testkit.TestCa;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLException;
import org.awaitility.Awaitility;

/**
 * A real {@code openssl s_server -www} (Debian package {@code openssl}) on loopback with a
 * certificate for 127.0.0.1 from the application's current CA, for probing the application's
 * clients from the outside: it answers any request with 200 and can be limited with s_server's
 * options (e.g. {@code -groups X448}). {@link #assertTheClientHoldsTheTlsPolicy} is the set of such
 * servers every client built from the bundle must pass.
 */
final class OpensslServer implements AutoCloseable {

  private static final java.util.regex.Pattern ACCEPT =
      java.util.regex.Pattern.compile("(?m)^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");

  private final Process process;
  private final int port;

  private OpensslServer(Process process, int port) {
    this.process = process;
    this.port = port;
  }

  static OpensslServer start(MtlsApp app, Path dir, String... options) throws Exception {
    TestCa ca = app.cas.get(app.cas.size() - 1);
    MtlsMaterial server = app.issue(ca, List.of(ca), "outside", Duration.ofHours(1));
    return start(dir, server.identity().leaf(), server.identity().privateKey(), options);
  }

  /** As {@link #start(MtlsApp, Path, String...)}, with an RSA 2048 key. */
  static OpensslServer startRsa(MtlsApp app, Path dir, String... options) throws Exception {
    TestCa ca = app.cas.get(app.cas.size() - 1);
    java.security.KeyPairGenerator g = java.security.KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    java.security.KeyPair keys = g.generateKeyPair();
    java.security.cert.X509Certificate leaf = ca.leaf(keys.getPublic()).commonName("outside").dns("localhost")
        .ip("127.0.0.1").build();
    return start(dir, leaf, keys.getPrivate(), options);
  }

  private static OpensslServer start(Path dir, java.security.cert.X509Certificate certificate,
      java.security.PrivateKey key, String... options) throws Exception {
    Files.writeString(dir.resolve("server.pem"), TestCa.toPem(certificate));
    Files.writeString(dir.resolve("server.key"), TestCa.toPem(key));
    // Port 0: s_server binds a free port itself and prints it ("ACCEPT 127.0.0.1:<port>"); a port
    // picked here and bound later by s_server could be taken by another process in between.
    List<String> command = new ArrayList<>(List.of("openssl", "s_server", "-accept", "127.0.0.1:0",
        "-cert", "server.pem", "-key", "server.key", "-www"));
    command.addAll(List.of(options));
    Path out = dir.resolve("s_server.txt");
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    java.util.concurrent.atomic.AtomicInteger bound = new java.util.concurrent.atomic.AtomicInteger();
    try {
      Awaitility.await("openssl s_server listening").atMost(Duration.ofSeconds(20))
          .pollInterval(Duration.ofMillis(50)).until(() -> {
            java.util.regex.Matcher accept = ACCEPT.matcher(Files.readString(out));
            if (accept.find()) {
              bound.set(Integer.parseInt(accept.group(1)));
              return true;
            }
            if (!p.isAlive()) {
              throw new IllegalStateException("openssl s_server ended: " + Files.readString(out));
            }
            return false;
          });
    } catch (RuntimeException e) {
      p.destroy();
      p.waitFor();
      throw e;
    }
    return new OpensslServer(p, bound.get());
  }

  /** One call of the client under test to {@code server}: the HTTP status it got. */
  @FunctionalInterface
  interface Call {
    int status(URI server) throws Exception;
  }

  /**
   * Asserts that a client of {@code app} applies the whole TLS policy to the servers it calls, with
   * real {@code s_server}s: one that offers only what the policy leaves out (ECDSA or RSA with SHA-1
   * in TLS 1.2; X448) is refused in the handshake and the application's {@code TlsListener} hears of
   * the client's failed handshake; the same server offering what the policy allows (ECDSA or RSA
   * with SHA-256, X25519) is served.
   */
  static void assertTheClientHoldsTheTlsPolicy(MtlsApp app, Path dir, Call call) throws Exception {
    try (OpensslServer server = start(app, dir, "-tls1_2", "-sigalgs", "ECDSA+SHA256")) {
      assertThat(call.status(server.uri())).as("TLS 1.2 ECDSA+SHA256").isEqualTo(200);
    }
    try (OpensslServer server = start(app, dir, "-groups", "X25519")) {
      assertThat(call.status(server.uri())).as("X25519").isEqualTo(200);
    }
    try (OpensslServer server = startRsa(app, dir, "-tls1_2", "-sigalgs", "RSA+SHA256")) {
      assertThat(call.status(server.uri())).as("TLS 1.2 RSA+SHA256").isEqualTo(200);
    }
    // SECLEVEL=0: OpenSSL 3 itself refuses SHA-1 signatures and X448 at its default level.
    try (OpensslServer server = start(app, dir, "-tls1_2", "-sigalgs", "ECDSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0")) {
      assertRefused(app, call, server, "TLS 1.2 ECDSA+SHA1 only");
    }
    try (OpensslServer server = start(app, dir, "-groups", "X448", "-cipher", "DEFAULT@SECLEVEL=0")) {
      assertRefused(app, call, server, "X448 only");
    }
    // Left to their own defaults, BoringSSL (Reactor Netty's) and SunJSSE accept RSA with SHA-1.
    try (OpensslServer server = startRsa(app, dir, "-tls1_2", "-sigalgs", "RSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0")) {
      assertRefused(app, call, server, "TLS 1.2 RSA+SHA1 only");
    }
  }

  private static void assertRefused(MtlsApp app, Call call, OpensslServer server, String what) {
    int causes = app.clientHandshakeCauses.size();
    // The call fails in the handshake. What the HTTP client makes of it varies: most surface the
    // engine's SSLException, but Jetty's client, racing the server's close after the client's alert,
    // sometimes reports only the closed channel. The engine's own refusal is what the listener hears.
    assertThatThrownBy(() -> call.status(server.uri())).as(what).satisfies(e -> assertThat(rootCause(e))
        .isInstanceOfAny(SSLException.class, java.nio.channels.ClosedChannelException.class));
    Awaitility.await(what + ": the client's failed handshake reported to the TlsListener")
        .atMost(Duration.ofSeconds(10)).until(() -> app.clientHandshakeCauses.size() > causes);
    assertThat(app.clientHandshakeCauses.subList(causes, app.clientHandshakeCauses.size())).as(what)
        .anyMatch(c -> c instanceof SSLException);
  }

  private static Throwable rootCause(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root;
  }

  URI uri() {
    return URI.create("https://127.0.0.1:" + port + "/");
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    process.waitFor();
  }
}
