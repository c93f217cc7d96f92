package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.testing.ClientHellos;
import dev.kubemtls.core.tls.TlsPolicy;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.junit.jupiter.api.Test;

/** Which groups a JDK client offers, read from the ClientHello its engine writes. */
class JdkTlsTest {

  private static final TlsPolicy POLICY = TlsPolicy.defaults();

  @Test
  void clientsWithholdX25519OnlyWhereItsEcdhIsJavaAndTheNistGroupsAreNative() {
    assertThat(JdkTls.withheldByClients(POLICY, true, false, null)).containsExactly("x25519");
    assertThat(JdkTls.withheldByClients(POLICY.toBuilder().namedGroups("x25519", "x448", "secp384r1").build(),
        true, false, null)).containsExactlyInAnyOrder("x25519", "x448");
    // Not where the JDK's providers are in use, nor where the application keeps the share.
    assertThat(JdkTls.withheldByClients(POLICY, false, false, null)).isEmpty();
    assertThat(JdkTls.withheldByClients(POLICY, true, true, null)).isEmpty();
    // Never so far that no group is left to offer.
    assertThat(JdkTls.withheldByClients(POLICY.toBuilder().namedGroups("x25519").build(), true, false, null))
        .isEmpty();
    assertThat(JdkTls.withheldByClients(POLICY, true, false, "x25519,x448,ffdhe2048")).isEmpty();
    assertThat(JdkTls.withheldByClients(POLICY, true, false, "\"X25519\", \"secp384r1\"")).containsExactly("x25519");
  }

  @Test
  void aClientThatWithholdsX25519OffersAndSharesOnlyTheNistGroups() throws Exception {
    JdkTls tls = new JdkTls(POLICY, Set.of("x25519"));
    SSLEngine client = engine(true);
    tls.restrict(client);
    ClientHellos.Offer offer = ClientHellos.of(client);
    assertThat(offer.groups()).containsExactlyInAnyOrder("secp256r1", "secp384r1");
    assertThat(offer.keyShares()).containsExactly("secp256r1");

    // A server engine keeps every group of the policy: it answers the share a client sent.
    SSLEngine server = engine(false);
    tls.restrict(server);
    assertThat(server.getSSLParameters().getAlgorithmConstraints()).isSameAs(tls.constraints());
    assertThat(tls.constraints().permits(Set.of(java.security.CryptoPrimitive.KEY_AGREEMENT), "x25519", null))
        .isTrue();
  }

  @Test
  void anEngineMadeBeforeItsRoleWasKnownTakesTheClientConstraintsBeforeItsClientHello() throws Exception {
    JdkTls tls = new JdkTls(POLICY, Set.of("x25519"));
    SSLEngine engine = engine(true);
    javax.net.ssl.SSLParameters p = engine.getSSLParameters();
    p.setAlgorithmConstraints(tls.constraints());
    engine.setSSLParameters(p);
    tls.restrictClient(engine);
    assertThat(engine.getSSLParameters().getAlgorithmConstraints()).isSameAs(tls.constraints(true));
    assertThat(ClientHellos.of(engine).keyShares()).containsExactly("secp256r1");

    SSLEngine server = engine(false);
    server.setSSLParameters(p);
    tls.restrictClient(server);
    assertThat(server.getSSLParameters().getAlgorithmConstraints()).isSameAs(tls.constraints());
  }

  @Test
  void withoutNativeCryptoAClientOffersThePolicysGroupsAsTheJdkDoes() throws Exception {
    // mtls-core's tests run on the JDK's own providers: nothing is withheld.
    JdkTls tls = new JdkTls(POLICY);
    assertThat(tls.constraints(true)).isSameAs(tls.constraints());
    SSLEngine client = engine(true);
    tls.restrict(client);
    ClientHellos.Offer offer = ClientHellos.of(client);
    assertThat(offer.groups()).containsExactlyInAnyOrder("x25519", "secp256r1", "secp384r1");
    assertThat(offer.keyShares()).containsExactly("x25519", "secp256r1");
  }

  private static SSLEngine engine(boolean client) throws Exception {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, null, null);
    SSLEngine engine = context.createSSLEngine("orders.shop.svc", 443);
    engine.setUseClientMode(client);
    return engine;
  }
}
