package dev.kubemtls.servlet;

import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.MtlsSslContexts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Real handshakes against a real Jetty server on 127.0.0.1, with material from a test CA. */
class JettyMtlsTest {

  private static TestCa ca;
  private static TestCa otherCa;
  private static TrustBundle trust;

  @BeforeAll
  static void pki() {
    ca = TestCa.create("kube-mtls test CA");
    otherCa = TestCa.create("some other CA");
    trust = Pki.bundle("test/bundle@1", ca);
  }

  private static MaterialPublisher serverSource() {
    return new MaterialPublisher(Pki.material(ca, "payments", "api", trust));
  }

  @Test
  void jdkClientCallsByIpAndTheServletSeesTheCallersIdentity() throws Exception {
    MtlsMaterial client = Pki.material(ca, "billing", "invoicer", trust);
    MaterialPublisher source = serverSource();
    try (TestServer server = TestServer.start(source, MtlsPeerFilter.builder().build())) {
      HttpResponse<String> response = JdkClients.get(JdkClients.client(MtlsSslContexts.of(client)), server.uri("/hello"));

      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.body()).isEqualTo("spiffe=spiffe://cluster.local/ns/billing/sa/invoicer"
          + " ns=billing sa=invoicer principal=spiffe://cluster.local/ns/billing/sa/invoicer"
          + " principalType=PeerPrincipal auth=CLIENT_CERT");
      X509Certificate seen = (X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0];
      assertThat(seen.getSerialNumber()).isEqualTo(source.current().identity().leaf().getSerialNumber());
      assertThat(response.sslSession().orElseThrow().getProtocol()).isEqualTo("TLSv1.3");
    }
  }

  @Test
  void jettyClientCallsByIpAndTheServletSeesTheCallersIdentity() throws Exception {
    MaterialPublisher server = serverSource();
    MaterialPublisher client = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    try (TestServer s = TestServer.start(server, MtlsPeerFilter.builder().build());
         RecordingClient c = new RecordingClient(client)) {
      ContentResponse response = c.get(s.uri("/hello"), false);

      assertThat(response.getStatus()).isEqualTo(200);
      assertThat(response.getContentAsString()).startsWith(
          "spiffe=spiffe://cluster.local/ns/billing/sa/invoicer ns=billing sa=invoicer");
      assertThat(c.lastServerSerial.get())
          .isEqualTo(server.current().identity().leaf().getSerialNumber().toString(16));
    }
  }

  @Test
  void followingSslContextUsesTheRenewedIdentityAndTrustOnNewConnections() throws Exception {
    TestCa nextCa = TestCa.create("next CA");
    TrustBundle overlap = Pki.bundle("test/bundle@2", ca, nextCa);
    MaterialPublisher server = serverSource();
    MaterialPublisher client = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    SSLContext following = MtlsSslContexts.following(client);
    try (TestServer s = TestServer.start(server, MtlsPeerFilter.builder().build())) {
      assertThat(JdkClients.get(JdkClients.client(following), s.uri("/a")).body()).contains(" sa=invoicer ");

      // The server moves to a certificate from a CA the client has not trusted so far.
      server.publish(server.current().withTrust(overlap));
      TlsIdentity renewedServer = Pki.identity(nextCa, 2, "payments", "api");
      server.publish(server.current().withIdentity(renewedServer));
      client.publish(client.current().withTrust(overlap));
      client.publish(client.current().withIdentity(Pki.identity(nextCa, 2, "billing", "invoicer-v2")));

      // Same SSLContext object, new connection (a new JDK client has an empty pool).
      HttpResponse<String> second = JdkClients.get(JdkClients.client(following), s.uri("/b"));
      assertThat(second.body()).contains(" sa=invoicer-v2 ");
      X509Certificate seen = (X509Certificate) second.sslSession().orElseThrow().getPeerCertificates()[0];
      assertThat(seen.getSerialNumber()).isEqualTo(renewedServer.leaf().getSerialNumber());
      assertThatThrownBy(() -> following.init(null, null, null))
          .isInstanceOf(java.security.KeyManagementException.class);
    }
  }

  @Test
  void tls12WithStrongCiphersIsAcceptedAndWeakCiphersAreNot() throws Exception {
    SSLContext context = MtlsSslContexts.of(Pki.material(ca, "billing", "invoicer", trust));
    javax.net.ssl.SSLParameters tls12 = MtlsSslContexts.sslParameters();
    tls12.setProtocols(new String[] {"TLSv1.2"});
    javax.net.ssl.SSLParameters cbc = MtlsSslContexts.sslParameters();
    cbc.setProtocols(new String[] {"TLSv1.2"});
    cbc.setCipherSuites(new String[] {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"});
    try (TestServer server = TestServer.start(serverSource(), MtlsPeerFilter.builder().build())) {
      HttpResponse<String> response = JdkClients.get(JdkClients.client(context, tls12), server.uri("/v12"));
      assertThat(response.statusCode()).isEqualTo(200);
      assertThat(response.sslSession().orElseThrow().getProtocol()).isEqualTo("TLSv1.2");
      assertThat(response.sslSession().orElseThrow().getCipherSuite()).isEqualTo(TlsPolicy.defaults().cipherSuites().stream()
          .filter(c -> c.startsWith("TLS_ECDHE_ECDSA")).findFirst().orElseThrow());

      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(context, cbc), server.uri("/cbc")))
          .isInstanceOf(IOException.class);
      await().atMost(Duration.ofSeconds(10)).until(() -> !server.handshakeFailures.isEmpty());
      assertThat(server.handshakeFailures.get(0)).hasMessageContaining("cipher suites in common");
      assertThat(server.servletCalls).hasValue(1);
    }
  }

  @Test
  void clientWithoutCertificateIsRefusedInTheHandshake() throws Exception {
    SSLContext trustOnly = JdkClients.withoutCertificate(trust);
    try (TestServer server = TestServer.start(serverSource(), MtlsPeerFilter.builder().build())) {
      // With TLS 1.3 the client's side of the handshake completes; the server's refusal arrives
      // as an alert on the client's first read, so the request fails, not the connect.
      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(trustOnly), server.uri("/hello")))
          .isInstanceOf(IOException.class);

      await().atMost(Duration.ofSeconds(10)).until(() -> !server.handshakeFailures.isEmpty());
      assertThat(server.handshakeFailures.get(0)).isInstanceOf(SSLHandshakeException.class)
          .hasMessageContaining("Empty client certificate chain");
      assertThat(server.servletCalls).hasValue(0);
    }
  }

  @Test
  void clientFromAnotherCaIsRefusedInTheHandshake() throws Exception {
    // A CA with another name: the JDK client does not even offer a certificate the server's
    // certificate_authorities list does not name, so the server sees an empty chain.
    MtlsMaterial foreign = new MtlsMaterial(Pki.identity(otherCa, 1, "billing", "invoicer"), trust, 1);
    // A CA that copies the trusted CA's name with its own key: the client offers the certificate
    // and the server's PKIX validation refuses it.
    TestCa impostor = TestCa.create("kube-mtls test CA");
    MtlsMaterial forged = new MtlsMaterial(Pki.identity(impostor, 1, "billing", "invoicer"), trust, 1);
    try (TestServer server = TestServer.start(serverSource(), MtlsPeerFilter.builder().build())) {
      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(MtlsSslContexts.of(foreign)), server.uri("/hello")))
          .isInstanceOf(IOException.class);
      await().atMost(Duration.ofSeconds(10)).until(() -> !server.handshakeFailures.isEmpty());
      assertThat(server.handshakeFailures).allSatisfy(f -> assertThat(f)
          .isInstanceOf(SSLHandshakeException.class).hasMessageContaining("Empty client certificate chain"));
      server.handshakeFailures.clear();

      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(MtlsSslContexts.of(forged)), server.uri("/hello")))
          .isInstanceOf(IOException.class);
      await().atMost(Duration.ofSeconds(10)).until(() -> !server.handshakeFailures.isEmpty());
      assertThat(server.handshakeFailures).allSatisfy(f -> assertThat(f)
          .isInstanceOf(SSLHandshakeException.class)
          .hasMessageContaining("names a trusted CA (CN=kube-mtls test CA) as its issuer, but its signature"));
      assertThat(server.servletCalls).hasValue(0);
    }
  }

  @Test
  void expiredClientCertificateIsRefusedInTheHandshake() throws Exception {
    TlsIdentity expired = Pki.identity(ca, 1, leaf -> leaf.spiffe("billing", "invoicer")
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
    MaterialPublisher client = new MaterialPublisher(new MtlsMaterial(expired, trust, 1));
    try (TestServer server = TestServer.start(serverSource(), MtlsPeerFilter.builder().build());
         RecordingClient c = new RecordingClient(client)) {
      assertThatThrownBy(() -> c.get(server.uri("/hello"), true)).isInstanceOf(ExecutionException.class);

      await().atMost(Duration.ofSeconds(10)).until(() -> !server.handshakeFailures.isEmpty());
      assertThat(server.handshakeFailures.get(0)).isInstanceOf(SSLHandshakeException.class)
          .hasStackTraceContaining("validity check failed");
      assertThat(server.servletCalls).hasValue(0);
    }
  }

  @Test
  void peerOutsideTheAllowListGets403WithTheReason() throws Exception {
    MtlsPeerFilter filter = MtlsPeerFilter.builder()
        .policy(PeerPolicy.builder().allowNamespace("billing").build()).build();
    MaterialPublisher stranger = new MaterialPublisher(Pki.material(ca, "sandbox", "intruder", trust));
    MaterialPublisher friend = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    try (TestServer server = TestServer.start(serverSource(), filter);
         RecordingClient strangerClient = new RecordingClient(stranger);
         RecordingClient friendClient = new RecordingClient(friend)) {
      ContentResponse refused = strangerClient.get(server.uri("/hello"), false);
      ContentResponse allowed = friendClient.get(server.uri("/hello"), false);

      assertThat(refused.getStatus()).isEqualTo(403);
      assertThat(refused.getMediaType()).isEqualTo("text/plain");
      assertThat(refused.getContentAsString())
          .isEqualTo("peer spiffe://cluster.local/ns/sandbox/sa/intruder is not in the allow-list\n");
      assertThat(allowed.getStatus()).isEqualTo(200);
      assertThat(server.servletCalls).hasValue(1);
    }
  }

  @Test
  void withOptionalClientAuthTheFilterRefusesRequestsWithoutCertificate() throws Exception {
    SSLContext trustOnly = JdkClients.withoutCertificate(trust);
    FilterHolder filter = new FilterHolder(MtlsPeerFilter.builder().build());
    try (TestServer server = new TestServer(serverSource(), b -> b.policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)), filter)) {
      HttpResponse<String> anonymous = JdkClients.get(JdkClients.client(trustOnly), server.uri("/hello"));
      HttpResponse<String> authenticated = JdkClients.get(
          JdkClients.client(MtlsSslContexts.of(Pki.material(ca, "billing", "invoicer", trust))), server.uri("/hello"));

      assertThat(anonymous.statusCode()).isEqualTo(403);
      assertThat(anonymous.body()).isEqualTo("a client certificate is required: connect with mutual TLS\n");
      assertThat(authenticated.statusCode()).isEqualTo(200);
      assertThat(server.servletCalls).hasValue(1);
    }
  }

  @Test
  void withOptionalCertificateAnonymousRequestsPassWithoutIdentity() throws Exception {
    SSLContext trustOnly = JdkClients.withoutCertificate(trust);
    FilterHolder filter = new FilterHolder(MtlsPeerFilter.builder().requireCertificate(false).build());
    try (TestServer server = new TestServer(serverSource(), b -> b.policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL)), filter)) {
      HttpResponse<String> anonymous = JdkClients.get(JdkClients.client(trustOnly), server.uri("/public"));
      HttpResponse<String> authenticated = JdkClients.get(
          JdkClients.client(MtlsSslContexts.of(Pki.material(ca, "billing", "invoicer", trust))), server.uri("/public"));

      assertThat(anonymous.statusCode()).isEqualTo(200);
      assertThat(anonymous.body()).isEqualTo("no-identity certs=0");
      assertThat(authenticated.body()).startsWith("spiffe=spiffe://cluster.local/ns/billing/sa/invoicer");
    }
  }

  @Test
  void clientRefusesAServerWhoseCertificateDoesNotNameTheDialledAddress() throws Exception {
    KeyPair keys = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(keys.getPublic()).dns("payments.svc").spiffe("payments", "api").build();
    MaterialPublisher server = new MaterialPublisher(
        new MtlsMaterial(new TlsIdentity(keys.getPrivate(), List.of(leaf), 1), trust, 1));
    MaterialPublisher client = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer s = TestServer.start(server, null);
        RecordingClient c = new RecordingClient(client, null, b -> b.listener(events))) {
      assertRefusedByTheClient(c, s.uri("/hello"), "127.0.0.1");
      assertThat(events.next().assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH).cause())
          .hasRootCauseInstanceOf(java.security.cert.CertificateException.class)
          .hasStackTraceContaining("127.0.0.1");
      assertThat(s.servletCalls).hasValue(0);
    }
  }

  /**
   * A request that the Jetty client's own TLS engine refuses in the handshake fails. What the
   * request's failure carries is not the engine's to decide: Jetty's client surfaces the engine's
   * refusal or, when the failed handshake's close (of the channel, or the server's after the
   * client's alert) wins the race to fail the request, only a closed channel or an EOF. The refusal
   * itself is judged by what the client's TlsListener hears.
   */
  static void assertRefusedByTheClient(RecordingClient c, java.net.URI uri, String refusal) {
    assertThatThrownBy(() -> c.get(uri, true)).isInstanceOf(ExecutionException.class)
        .satisfiesAnyOf(
            e -> assertThat(e).hasStackTraceContaining(refusal),
            e -> assertThat(org.assertj.core.util.Throwables.getRootCause(e))
                .isInstanceOfAny(java.nio.channels.ClosedChannelException.class, java.io.EOFException.class));
  }

  @Test
  void materialThatFailsValidationIsRefusedAndTheWorkingMaterialStays() throws Exception {
    UncheckedSource server = new UncheckedSource(Pki.material(ca, "payments", "api", trust));
    MaterialPublisher client = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    String first = server.current().identity().leaf().getSerialNumber().toString(16);
    try (TestServer s = TestServer.start(server, null); RecordingClient c = new RecordingClient(client)) {
      assertThat(c.get(s.uri("/a"), true).getStatus()).isEqualTo(200);
      assertThat(c.lastServerSerial.get()).isEqualTo(first);

      // A certificate with somebody else's key: kube-mtls' publisher refuses it; a source of
      // somebody else's that does not check takes it, and the connector must not.
      TlsIdentity good = Pki.identity(ca, 2, "payments", "api");
      TlsIdentity mismatched = new TlsIdentity(TestCa.newKeyPair().getPrivate(), good.chain(), 2);
      assertThatThrownBy(() -> new MaterialPublisher(new MtlsMaterial(mismatched, trust, 2)))
          .hasMessageContaining("does not belong");
      server.publish(new MtlsMaterial(mismatched, trust, 2));
      assertThat(c.get(s.uri("/b"), true).getStatus()).isEqualTo(200);
      assertThat(c.lastServerSerial.get()).isEqualTo(first);

      TlsIdentity third = Pki.identity(ca, 3, "payments", "api");
      server.publish(new MtlsMaterial(third, trust, 3));
      assertThat(c.get(s.uri("/c"), true).getStatus()).isEqualTo(200);
      assertThat(c.lastServerSerial.get()).isEqualTo(third.leaf().getSerialNumber().toString(16));
    }
  }

  @Test
  void connectorAndClientUnsubscribeWhenTheyStop() throws Exception {
    CountingSource server = new CountingSource(serverSource());
    CountingSource client = new CountingSource(new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust)));
    TestServer s = TestServer.start(server, null);
    RecordingClient c = new RecordingClient(client);
    try {
      assertThat(c.get(s.uri("/a"), false).getStatus()).isEqualTo(200);
      assertThat(server.active).as("the TLS context and the connection bound").hasValue(2);
      assertThat(client.active).hasValue(1);
    } finally {
      c.close();
      s.close();
    }
    assertThat(server.active).hasValue(0);
    assertThat(client.active).hasValue(0);
  }

  @Test
  void filterConfiguredByInitParamsEnforcesTheAllowList() throws Exception {
    FilterHolder holder = new FilterHolder(MtlsPeerFilter.class);
    holder.setInitParameter(MtlsPeerFilter.INIT_ALLOWED_SERVICE_ACCOUNTS, "billing/invoicer, ops/auditor");
    holder.setInitParameter(MtlsPeerFilter.INIT_ALLOWED_SPIFFE_IDS, "spiffe://cluster.local/ns/web/sa/frontend");
    MaterialPublisher invoicer = new MaterialPublisher(Pki.material(ca, "billing", "invoicer", trust));
    MaterialPublisher frontend = new MaterialPublisher(Pki.material(ca, "web", "frontend", trust));
    MaterialPublisher other = new MaterialPublisher(Pki.material(ca, "billing", "reporter", trust));
    try (TestServer s = new TestServer(serverSource(), b -> b, holder);
         RecordingClient a = new RecordingClient(invoicer);
         RecordingClient b = new RecordingClient(frontend);
         RecordingClient c = new RecordingClient(other)) {
      assertThat(a.get(s.uri("/x"), false).getStatus()).isEqualTo(200);
      assertThat(b.get(s.uri("/x"), false).getStatus()).isEqualTo(200);
      ContentResponse refused = c.get(s.uri("/x"), false);
      assertThat(refused.getStatus()).isEqualTo(403);
      assertThat(refused.getContentAsString()).contains("ns/billing/sa/reporter is not in the allow-list");
    }
  }

  @Test
  void malformedInitParamStopsTheServerFromStarting() {
    FilterHolder holder = new FilterHolder(MtlsPeerFilter.class);
    holder.setInitParameter(MtlsPeerFilter.INIT_ALLOWED_SERVICE_ACCOUNTS, "invoicer");

    assertThatThrownBy(() -> new TestServer(serverSource(), b -> b, holder))
        .isInstanceOf(jakarta.servlet.ServletException.class)
        .hasMessageContaining("allowed-service-accounts entry 'invoicer' must have the form namespace/serviceAccount");
  }

  @Test
  void initParamsOnAProgrammaticFilterAreRefused() {
    FilterHolder holder = new FilterHolder(MtlsPeerFilter.builder().build());
    holder.setInitParameter(MtlsPeerFilter.INIT_ALLOWED_NAMESPACES, "billing");

    assertThatThrownBy(() -> new TestServer(serverSource(), b -> b, holder))
        .isInstanceOf(jakarta.servlet.ServletException.class)
        .hasMessageContaining("was configured with MtlsPeerFilter.builder()");
  }

  @Test
  void connectorAndClientStartBeforeTheSourceHasMaterialAndServeOnceItArrives() throws Exception {
    MaterialPublisher server = new MaterialPublisher();
    MaterialPublisher client = new MaterialPublisher();
    RecordingTlsListener events = new RecordingTlsListener();
    try (TestServer s = TestServer.start(server, null);
        RecordingClient c = new RecordingClient(client, null, b -> b.listener(events))) {
      // No server material: the server has no certificate, the handshake fails.
      assertThatThrownBy(() -> JdkClients.get(
          JdkClients.client(MtlsSslContexts.of(Pki.material(ca, "billing", "invoicer", trust))), s.uri("/early")))
          .isInstanceOf(IOException.class);
      server.publish(Pki.material(ca, "payments", "api", trust));
      // No client material: the client trusts no server yet.
      assertRefusedByTheClient(c, s.uri("/early"), "no TLS material yet");
      assertThat(events.next().assertFailed(Side.CLIENT, HandshakeFailure.UNTRUSTED_PEER).cause())
          .hasStackTraceContaining("no TLS material yet");
      assertThat(s.servletCalls).hasValue(0);
      client.publish(Pki.material(ca, "billing", "invoicer", trust));
      assertThat(c.get(s.uri("/now"), true).getStatus()).isEqualTo(200);
      assertThat(s.servletCalls).hasValue(1);
    }
  }

  @Test
  void aHandleSharesOneContextFollowsTheSourceAndRefusesNewConnectionsOnceClosed() throws Exception {
    MaterialPublisher source = new MaterialPublisher();
    JettyServerTls tls = JettyMtls.forServer(source).host("127.0.0.1").port(0).build();
    org.eclipse.jetty.server.Server jetty = new org.eclipse.jetty.server.Server();
    org.eclipse.jetty.server.ServerConnector connector = tls.newConnector(jetty);
    jetty.addConnector(connector);
    jetty.setHandler(new org.eclipse.jetty.server.Handler.Abstract() {
      @Override
      public boolean handle(org.eclipse.jetty.server.Request request, org.eclipse.jetty.server.Response response,
          org.eclipse.jetty.util.Callback callback) {
        response.setStatus(200);
        org.eclipse.jetty.io.Content.Sink.write(response, true, "ok", callback);
        return true;
      }
    });
    jetty.start();
    try {
      java.net.URI uri = java.net.URI.create("https://127.0.0.1:" + connector.getLocalPort() + "/");
      SSLContext client = MtlsSslContexts.of(Pki.material(ca, "billing", "invoicer", trust));
      assertThat(tls.generation()).isZero();
      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(client), uri)).isInstanceOf(IOException.class);

      source.publish(Pki.material(ca, "payments", "api", trust));
      assertThat(JdkClients.get(JdkClients.client(client), uri).statusCode()).isEqualTo(200);
      assertThat(tls.generation()).isEqualTo(1);

      tls.close();
      assertThatThrownBy(() -> JdkClients.get(JdkClients.client(client), uri)).isInstanceOf(IOException.class);
    } finally {
      jetty.stop();
    }
  }

  /** A real source that counts its open subscriptions. */
  private static final class CountingSource implements MaterialSource {
    final MaterialSource delegate;
    final AtomicInteger active = new AtomicInteger();

    CountingSource(MaterialSource delegate) {
      this.delegate = delegate;
    }

    @Override
    public MtlsMaterial current() {
      return delegate.current();
    }

    @Override
    public Optional<MtlsMaterial> currentIfReady() {
      return delegate.currentIfReady();
    }

    @Override
    public Subscription subscribe(MaterialListener listener) {
      Subscription inner = delegate.subscribe(listener);
      active.incrementAndGet();
      java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
      return () -> {
        if (closed.compareAndSet(false, true)) {
          inner.close();
          active.decrementAndGet();
        }
      };
    }
  }

  /** A {@link MaterialSource} of somebody else's that publishes whatever it is given, unchecked. */
  private static final class UncheckedSource implements MaterialSource {
    private final List<MaterialListener> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile MtlsMaterial current;

    UncheckedSource(MtlsMaterial initial) {
      this.current = initial;
    }

    void publish(MtlsMaterial material) {
      current = material;
      listeners.forEach(l -> l.onMaterial(material));
    }

    @Override
    public MtlsMaterial current() {
      return current;
    }

    @Override
    public Optional<MtlsMaterial> currentIfReady() {
      return Optional.of(current);
    }

    @Override
    public Subscription subscribe(MaterialListener listener) {
      listeners.add(listener);
      return () -> listeners.remove(listener);
    }
  }
}
