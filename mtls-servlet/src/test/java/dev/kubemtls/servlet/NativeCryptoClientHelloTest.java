package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.testing.ClientHellos;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.NativeCrypto;
import dev.kubemtls.testkit.TestCa;
import javax.net.ssl.SSLEngine;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

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
    System.setProperty(JdkTls.OFFER_XDH_PROPERTY, "true");
    MtlsJdkTls tls;
    try {
      tls = MtlsJdkTls.forClient(web()).build();
    } finally {
      System.clearProperty(JdkTls.OFFER_XDH_PROPERTY);
    }
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
}
