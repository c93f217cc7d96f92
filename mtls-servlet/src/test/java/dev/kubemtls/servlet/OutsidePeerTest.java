package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.TestCa;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What a peer that is not kube-mtls sees of a Jetty connector: the policy's signature schemes, the
 * default peer policy, and how a refused certificate is reported. (The policy's groups on both
 * protocols: {@code TlsConformanceSuite.onlyThePolicysGroupsAreNegotiated} in {@link JettyConformanceTest}.)
 */
class OutsidePeerTest {

  private static final String GET = "GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  private static final String OK = "HTTP/1.1 200 OK";

  private final TestCa ca = TestCa.create("kube-mtls test CA");
  private final TrustBundle trust = Pki.bundle("test/bundle@1", ca);
  private final List<X509Certificate> trusted = List.of(ca.certificate());

  private MaterialPublisher server() {
    return new MaterialPublisher(Pki.material(ca, "payments", "api", trust));
  }

  private TlsIdentity client() {
    return Pki.identity(ca, 1, "billing", "invoicer");
  }

  @Test
  void aClientLimitedToSha1SignaturesIsRefused() throws Exception {
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer s = new TestServer(server(), b -> b.listener(events), null)) {
      int port = s.connector.getLocalPort();
      assertThat(new OutsidePeer(client(), trusted).protocols("TLSv1.2").exchange(port, GET).firstLine())
          .isEqualTo(OK);
      events.next().assertSucceeded(Side.SERVER, "TLSv1.2");

      OutsidePeer.Result sha1 = new OutsidePeer(client(), trusted).protocols("TLSv1.2")
          .onlySignatureSchemes("ecdsa_sha1", "rsa_pkcs1_sha1").exchange(port, GET);
      assertThat(sha1.succeeded()).as(sha1.toString()).isFalse();
      events.next().assertFailed(Side.SERVER, HandshakeFailure.PROTOCOL);
      assertThat(s.servletCalls).hasValue(1);
    }
  }

  @Test
  void aTrustedCertificateWithoutSpiffeIdIsRefusedByDefault() throws Exception {
    TlsIdentity legacy = Pki.identity(ca, 1, b -> b.commonName("legacy").dns("legacy.billing.svc"));
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer s = new TestServer(server(), b -> b.listener(events), null)) {
      expect(s, events, legacy, HandshakeFailure.PEER_NOT_ALLOWED, "has no SPIFFE ID");
      assertThat(s.servletCalls).hasValue(0);
    }
    // And a Jetty client refuses such a server.
    MaterialPublisher legacyServer = new MaterialPublisher(new MtlsMaterial(
        Pki.identity(ca, 1, b -> b.commonName("legacy").ip("127.0.0.1")), trust, 1));
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    try (TestServer s = new TestServer(legacyServer, b -> b, null);
        RecordingClient c = new RecordingClient(new MaterialPublisher(new MtlsMaterial(client(), trust, 1)), null,
            b -> b.listener(clientEvents))) {
      JettyMtlsTest.assertRefusedByTheClient(c, s.uri("/x"), "has no SPIFFE ID");
      assertThat(clientEvents.next().assertFailed(Side.CLIENT, HandshakeFailure.PEER_NOT_ALLOWED).cause())
          .hasStackTraceContaining("has no SPIFFE ID");
      assertThat(s.servletCalls).hasValue(0);
    }
  }

  @Test
  void aRefusedClientCertificateIsExplainedAndClassifiedByItsCause() throws Exception {
    TestCa self = TestCa.create("invoicer");
    TlsIdentity selfSigned = new TlsIdentity(self.keyPair().getPrivate(), List.of(
        self.leaf(self.keyPair().getPublic()).commonName("invoicer").spiffe("billing", "invoicer").build()), 1);
    TlsIdentity foreign = Pki.identity(TestCa.create("some other CA"), 1, "billing", "invoicer");
    TlsIdentity expired = Pki.identity(ca, 1, b -> b.spiffe("billing", "invoicer")
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
    TlsIdentity forged = Pki.identity(TestCa.create("kube-mtls test CA"), 1, "billing", "invoicer");
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer s = new TestServer(server(), b -> b.listener(events), null)) {
      expect(s, events, foreign, HandshakeFailure.UNTRUSTED_PEER, "was issued by a CA that is not in the trust bundle");
      expect(s, events, selfSigned, HandshakeFailure.UNTRUSTED_PEER, "is self-signed");
      expect(s, events, expired, HandshakeFailure.EXPIRED_PEER_CERTIFICATE, "has expired");
      expect(s, events, forged, HandshakeFailure.UNTRUSTED_PEER, "its signature does not verify");
      assertThat(s.servletCalls).hasValue(0);
    }
  }

  /**
   * A refusal in a TLS 1.3 handshake: SunJSSE sends {@code certificate_unknown} whatever the cause
   * (a JDK server has no hook to choose), so the cause shows in the listener and the log. A client
   * that meets a reset instead of the alert (the server closed while it still wrote) tries again.
   */
  private void expect(TestServer s, RecordingTlsListener events, TlsIdentity client,
      HandshakeFailure reported, String explained) throws Exception {
    OutsidePeer.Result r = null;
    for (int attempt = 0; attempt < OutsidePeer.REFUSAL_ATTEMPTS; attempt++) {
      r = new OutsidePeer(client, trusted).protocols("TLSv1.3").refusal(s.connector.getLocalPort());
      assertThat(events.next().assertFailed(Side.SERVER, reported).cause()).hasStackTraceContaining(explained);
      if (!r.resetInsteadOfAlert()) {
        break;
      }
    }
    assertThat(r.alert()).as(r.toString()).isEqualTo("certificate_unknown");
  }
}
