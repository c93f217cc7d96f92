package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.testing.ClientHellos;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.tls.TlsPolicy;
import java.time.Duration;
import java.util.Set;
import javax.net.ssl.SSLHandshakeException;
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

  @Test
  void onlyAClientThatWithheldGroupsAndWasRefusedWithHandshakeFailureIsToldWhatToDo() throws Exception {
    RecordingTlsListener app = new RecordingTlsListener();
    assertThat(new JdkTls(TlsPolicy.defaults(), Set.of()).explainingRefusals(app)).isSameAs(app);
    assertThat(new JdkTls(TlsPolicy.defaults(), Set.of()).explainingRefusals(null)).isNull();

    TlsListener listener = new JdkTls(TlsPolicy.defaults(), Set.of("x25519")).explainingRefusals(app);
    SSLHandshakeException refused = new SSLHandshakeException("Received fatal alert: handshake_failure");
    listener.handshakeFailed(Side.CLIENT, HandshakeFailure.OTHER, refused, Duration.ZERO);
    assertThat(refused.getSuppressed()).singleElement().satisfies(note -> assertThat(note.getMessage())
        .contains("x25519").contains("-D" + JdkTls.OFFER_XDH_PROPERTY + "=true"));
    assertThat(app.next().assertFailed(Side.CLIENT, HandshakeFailure.OTHER).cause()).isSameAs(refused);

    // A server's failure, and a client's for another reason, pass on untouched.
    SSLHandshakeException serverSide = new SSLHandshakeException("Received fatal alert: handshake_failure");
    listener.handshakeFailed(Side.SERVER, HandshakeFailure.OTHER, serverSide, Duration.ZERO);
    SSLHandshakeException unknownCa = new SSLHandshakeException("Received fatal alert: unknown_ca");
    listener.handshakeFailed(Side.CLIENT, HandshakeFailure.REJECTED_BY_PEER, unknownCa, Duration.ZERO);
    assertThat(serverSide.getSuppressed()).isEmpty();
    assertThat(unknownCa.getSuppressed()).isEmpty();
    assertThat(app.next().cause()).isSameAs(serverSide);
    assertThat(app.next().cause()).isSameAs(unknownCa);

    // With no listener of the application's, the note is still added.
    javax.net.ssl.SSLException alone = new javax.net.ssl.SSLException("x", new SSLHandshakeException(
        "Received fatal alert: handshake_failure"));
    new JdkTls(TlsPolicy.defaults(), Set.of("x25519")).explainingRefusals(null)
        .handshakeFailed(Side.CLIENT, HandshakeFailure.OTHER, alone, Duration.ZERO);
    assertThat(alone.getSuppressed()).hasSize(1);
  }
}
