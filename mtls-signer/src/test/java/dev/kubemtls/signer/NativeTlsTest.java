package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.kubemtls.core.tls.NativeCrypto;
import dev.kubemtls.signer.internal.Crypto;
import dev.kubemtls.testkit.TestCa;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyStore;
import java.security.Security;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;
import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@link SignerMain#installNativeTls(String)}: the switch, then the provider registered for the whole
 * JVM and SunJSSE's TLS (the JDK HTTP client fabric8's signer client runs on) working with it. It
 * changes the JVM's providers, so it runs in the module's {@code native-tls} Surefire execution, a JVM
 * of its own, in this order.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NativeTlsTest {

  @Test
  @Order(1)
  void switchedOffNothingIsRegistered() {
    for (String off : new String[] {"false", " FALSE ", "False"}) {
      NativeCrypto.Status status = SignerMain.installNativeTls(off);
      assertThat(status.active()).isFalse();
      assertThat(status.detail()).contains(Crypto.NATIVE_PROPERTY + "=false");
    }
    assertThat(Security.getProviders()[0].getName()).isNotEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(NativeCrypto.status().active()).isFalse();
  }

  @Test
  @Order(2)
  void onTheProviderComesFirstForTheTlsRecordAndHandshakeAlgorithms() throws Exception {
    NativeCrypto.Status status = SignerMain.installNativeTls("true");
    assertThat(status.active()).as(status.detail()).isTrue();
    assertThat(Security.getProviders()[0].getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    // What SunJSSE asks the JCA for: the record cipher, the key agreement and the signatures.
    assertThat(Cipher.getInstance("AES/GCM/NoPadding").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(KeyAgreement.getInstance("ECDH").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(Signature.getInstance("SHA256withECDSA").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    // Unset (or anything but false) means on, and a second call changes nothing.
    assertThat(SignerMain.installNativeTls(null).active()).isTrue();
    assertThat(SignerMain.installNativeTls("yes").active()).isTrue();
    assertThat(Security.getProviders()).filteredOn(p -> p.getName().equals(NativeCrypto.ACCP_NAME)).hasSize(1);
  }

  @Test
  @Order(3)
  void theJdkHttpClientTalksTls13ThroughIt() throws Exception {
    assertThat(NativeCrypto.status().active()).isTrue();
    TestCa ca = TestCa.create("native-tls-test-ca");
    KeyPair serverKey = TestCa.newKeyPair();
    X509Certificate serverCert = ca.leaf(serverKey.getPublic()).commonName("localhost").ip("127.0.0.1")
        .usages(true, false).validity(Instant.now().minusSeconds(60), Duration.ofHours(1)).build();
    char[] password = "changeit".toCharArray();
    KeyStore keys = KeyStore.getInstance("PKCS12");
    keys.load(null, null);
    keys.setKeyEntry("server", serverKey.getPrivate(), password, new X509Certificate[] {serverCert, ca.certificate()});
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, password);
    SSLContext serverContext = SSLContext.getInstance("TLSv1.3");
    serverContext.init(kmf.getKeyManagers(), null, null);

    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", ca.certificate());
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext clientContext = SSLContext.getInstance("TLSv1.3");
    clientContext.init(null, tmf.getTrustManagers(), null);

    AtomicReference<String> suite = new AtomicReference<>();
    HttpsServer server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(serverContext));
    server.createContext("/", exchange -> {
      suite.set(((com.sun.net.httpserver.HttpsExchange) exchange).getSSLSession().getCipherSuite());
      byte[] body = "signed".getBytes(StandardCharsets.US_ASCII);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
    try {
      SSLParameters parameters = new SSLParameters();
      parameters.setProtocols(new String[] {"TLSv1.3"});
      HttpClient client = HttpClient.newBuilder().sslContext(clientContext).sslParameters(parameters)
          .connectTimeout(Duration.ofSeconds(10)).build();
      HttpResponse<String> response = client.send(HttpRequest.newBuilder(
          URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/")).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.body()).isEqualTo("signed");
      assertThat(response.sslSession()).get().extracting(s -> s.getProtocol()).isEqualTo("TLSv1.3");
      // An AES-GCM suite: its record cipher is the provider's (ChaCha20 is not offered first by SunJSSE).
      assertThat(suite.get()).isIn("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");
    } finally {
      server.stop(0);
    }
  }
}
