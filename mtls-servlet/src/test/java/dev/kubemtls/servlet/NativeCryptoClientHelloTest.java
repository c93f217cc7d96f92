package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.testing.ClientHellos;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.NativeCrypto;
import dev.kubemtls.testkit.TestCa;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import javax.net.ssl.SSLEngine;
import org.awaitility.Awaitility;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With native crypto on (a JVM of its own, the {@code native-crypto} Surefire execution), kube-mtls'
 * JDK clients offer the policy's NIST groups only, so SunJSSE computes no X25519 key share in Java
 * per handshake; read from the ClientHello each client's engine writes. Servers still accept X25519
 * ({@link NativeCryptoConformanceTest}, the groups case), and a property keeps the client's share.
 */
class NativeCryptoClientHelloTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = Pki.bundle("t@1", CA);

  @BeforeAll
  static void installNativeCrypto() {
    NativeCrypto.Status status = NativeCrypto.install();
    assertThat(status.active()).as(status.detail()).isTrue();
  }

  private static MaterialPublisher web() {
    return new MaterialPublisher(Pki.material(CA, "shop", "web", TRUST));
  }

  @Test
  void theJdkClientsEngineAndItsParametersOfferOnlyTheNistGroups() throws Exception {
    MtlsJdkTls tls = MtlsJdkTls.forClient(web()).build();
    try {
      SSLEngine engine = tls.sslContext().createSSLEngine("orders.shop.svc", 443);
      engine.setUseClientMode(true);
      ClientHellos.Offer offer = ClientHellos.of(engine);
      assertThat(offer.groups()).containsExactly("secp256r1", "secp384r1");
      assertThat(offer.keyShares()).containsExactly("secp256r1");

      SSLEngine configured = tls.sslContext().createSSLEngine("orders.shop.svc", 443);
      configured.setUseClientMode(true);
      configured.setSSLParameters(tls.sslParameters());
      assertThat(ClientHellos.of(configured).keyShares()).containsExactly("secp256r1");
    } finally {
      tls.close();
    }
  }

  @Test
  void jettysClientOffersOnlyTheNistGroups() throws Exception {
    SslContextFactory.Client factory = JettyMtls.forClient(web()).newSslContextFactory();
    factory.start();
    try {
      SSLEngine engine = factory.newSSLEngine("orders.shop.svc", 443);
      engine.setUseClientMode(true);
      ClientHellos.Offer offer = ClientHellos.of(engine);
      assertThat(offer.groups()).doesNotContain("x25519", "x448").contains("secp256r1");
      assertThat(offer.keyShares()).containsExactly("secp256r1");
    } finally {
      factory.stop();
    }
  }

  @Test
  void thePropertyKeepsTheX25519Share() throws Exception {
    MtlsJdkTls tls = clientOfferingX25519();
    try {
      SSLEngine engine = tls.sslContext().createSSLEngine("orders.shop.svc", 443);
      engine.setUseClientMode(true);
      ClientHellos.Offer offer = ClientHellos.of(engine);
      assertThat(offer.groups()).containsExactly("secp256r1", "x25519", "secp384r1");
      assertThat(offer.keyShares()).containsExactly("secp256r1", "x25519");
    } finally {
      tls.close();
    }
  }

  /**
   * A server that accepts only X25519, {@code openssl s_server -groups X25519} (Debian package
   * {@code openssl}), refuses the client with handshake_failure, as Go and BoringSSL do: the client's
   * failure carries a note that names the withheld groups and the property, which the application's
   * listener sees too; built with the property, the same client gets in.
   */
  @Test
  void aServerThatAcceptsOnlyX25519RefusesTheClientAndTheFailureSaysWhatToDo(@TempDir Path dir) throws Exception {
    RecordingTlsListener heard = new RecordingTlsListener();
    MtlsJdkTls client = MtlsJdkTls.forClient(web()).listener(heard).build();
    MtlsJdkTls offering = clientOfferingX25519();
    Process openssl = null;
    try {
      MtlsMaterial outside = Pki.material(CA, "shop", "outside", TRUST);
      Files.writeString(dir.resolve("server.pem"), TestCa.toPem(outside.identity().leaf()));
      Files.writeString(dir.resolve("server.key"), TestCa.toPem(outside.identity().privateKey()));
      Path out = dir.resolve("s_server.txt");
      // Port 0: s_server binds a free port itself and prints "ACCEPT 127.0.0.1:<port>".
      openssl = new ProcessBuilder("openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", "server.pem",
          "-key", "server.key", "-www", "-groups", "X25519").directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(out.toFile()).start();
      Process started = openssl;
      java.util.regex.Pattern accept = java.util.regex.Pattern.compile("(?m)^ACCEPT 127\\.0\\.0\\.1:(\\d+)$");
      int port = Awaitility.await("openssl s_server listening").atMost(Duration.ofSeconds(20))
          .pollInterval(Duration.ofMillis(50)).until(() -> {
            java.util.regex.Matcher m = accept.matcher(Files.readString(out));
            if (!m.find() && !started.isAlive()) {
              throw new IllegalStateException("openssl s_server ended: " + Files.readString(out));
            }
            return m.reset().find() ? Integer.parseInt(m.group(1)) : 0;
          }, p -> p > 0);
      URI uri = URI.create("https://127.0.0.1:" + port + "/");
      HttpClient refusedClient = HttpClient.newBuilder().sslContext(client.sslContext()).build();
      assertThatThrownBy(() -> refusedClient.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.discarding()))
          .isInstanceOf(javax.net.ssl.SSLHandshakeException.class);
      RecordingTlsListener.Event fromOpenssl = heard.next().assertFailed(TlsListener.Side.CLIENT, TlsListener.HandshakeFailure.OTHER);
      assertThat(fromOpenssl.cause()).hasMessageContaining("handshake_failure");
      assertCarriesTheNote(fromOpenssl.cause());
      HttpClient offeringClient = HttpClient.newBuilder().sslContext(offering.sslContext()).build();
      // The status only: s_server -www keeps the connection open after its page, so the body never ends.
      HttpResponse<java.io.InputStream> served = offeringClient.send(HttpRequest.newBuilder(uri).build(),
          HttpResponse.BodyHandlers.ofInputStream());
      served.body().close();
      assertThat(served.statusCode()).isEqualTo(200);
    } finally {
      if (openssl != null) {
        openssl.destroy();
        openssl.waitFor();
      }
      client.close();
      offering.close();
    }
  }

  private static MtlsJdkTls clientOfferingX25519() {
    System.setProperty(JdkTls.OFFER_XDH_PROPERTY, "true");
    try {
      return MtlsJdkTls.forClient(web()).build();
    } finally {
      System.clearProperty(JdkTls.OFFER_XDH_PROPERTY);
    }
  }

  private static void assertCarriesTheNote(Throwable failure) {
    assertThat(failure.getSuppressed()).singleElement().satisfies(note -> assertThat(note.getMessage())
        .contains("x25519").contains("-D" + JdkTls.OFFER_XDH_PROPERTY + "=true"));
  }
}
