package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.testing.RecordingTlsListener.Event;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The verified-chain cache of {@link ServerTls} and {@link ClientTls} keeps every property of the
 * full check it replaces, in real handshakes with both providers: a reconnecting peer is served from
 * the cache, and still a CA that left the bundle, a certificate past its notAfter by the handle's
 * clock, a certificate of another CA (also one with the trusted CA's name) and a server without the
 * dialled name are refused at once. A resumed session skips the trust manager altogether; one from
 * before a trust change is not resumed after it.
 */
class VerifiedChainCacheTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  /**
   * The CA before a rotation that kept the name: its certificates are still offered to a server
   * that lists only the new CA, so the server's trust manager has to refuse them itself.
   */
  private static final TestCa OLD_CA = TestCa.create("kube-mtls test CA");
  /** The trusted CA's name with its own key. */
  private static final TestCa IMPOSTOR = TestCa.create("kube-mtls test CA");
  private static final TestCa OTHER_CA = TestCa.create("some other CA");
  private static final String NAME = "orders.shop.svc";
  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  /** One server handle, its listener and its source, for several client connections. */
  private static final class Server implements AutoCloseable {
    final MaterialPublisher source;
    final RecordingTlsListener events = new RecordingTlsListener();
    final ServerTls tls;

    Server(TlsProvider provider, TrustBundle trust, MutableClock clock) {
      source = new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), trust, 1));
      ServerTls.Builder b = NettyMtls.forServer(source).provider(provider).listener(events);
      tls = (clock == null ? b : b.clock(clock)).build();
    }

    @Override
    public void close() {
      tls.close();
    }
  }

  private static ClientTls client(TlsProvider provider, TlsIdentity id, TrustBundle trust,
      RecordingTlsListener events, MutableClock clock) {
    ClientTls.Builder b = NettyMtls.forClient(new MaterialPublisher(new MtlsMaterial(id, trust, 1)))
        .provider(provider).listener(events);
    return (clock == null ? b : b.clock(clock)).build();
  }

  /**
   * One connection to {@code server} dialling {@code name}: the server's event, after the client's.
   * Each connection goes to a new port of the same server handle, so that the client has no session
   * to resume and both ends make a full handshake (and consult their trust managers).
   */
  private static Event connect(Server server, ClientTls client, RecordingTlsListener clientEvents,
      String name, boolean expectEcho) throws Exception {
    try (Echo.Server echo = new Echo.Server(LOOPS.group(), server.tls);
        Echo.Conn conn = Echo.Conn.open(LOOPS.group(), client, Echo.named(name, echo.port()))) {
      clientEvents.next();
      Event serverEvent = server.events.next();
      if (expectEcho) {
        assertThat(conn.request("hello")).isEqualTo("hello");
      }
      return serverEvent;
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aReconnectingPeerIsVerifiedOnceOnEachSideAndStillIdentified(TlsProvider provider) throws Exception {
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    try (Server server = new Server(provider, Pki.trust("t@1", CA), null);
        ClientTls client = client(provider, Pki.client(CA, 1), Pki.trust("t@1", CA), clientEvents, null)) {
      for (int i = 0; i < 3; i++) {
        assertThat(connect(server, client, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3"))
            .contains("spiffe://cluster.local/ns/shop/sa/web");
      }
      assertThat(server.tls.chains.misses()).as("full checks on the server").isEqualTo(1);
      assertThat(server.tls.chains.hits()).as("cached checks on the server").isEqualTo(2);
      assertThat(client.chains.misses()).as("full checks on the client").isEqualTo(1);
      assertThat(client.chains.hits()).as("cached checks on the client").isEqualTo(2);
      assertThat(server.tls.chains.identityCount()).isEqualTo(1);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aCaThatLeftTheBundleIsRefusedByTheNextHandshake(TlsProvider provider) throws Exception {
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle both = Pki.trust("t@1", OLD_CA, CA);
    try (Server server = new Server(provider, both, null);
        ClientTls fromOld = client(provider, Pki.client(OLD_CA, 1), both, clientEvents, null);
        ClientTls fromCa = client(provider, Pki.client(CA, 1), both, clientEvents, null)) {
      connect(server, fromOld, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      connect(server, fromOld, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      assertThat(server.tls.chains.hits()).as("the OLD_CA chain is cached").isEqualTo(1);

      // OLD_CA leaves the bundle; the server's identity stays the same.
      server.source.publish(new MtlsMaterial(server.source.current().identity(), Pki.trust("t@2", CA), 2));

      connect(server, fromOld, clientEvents, NAME, false)
          .assertFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER);
      connect(server, fromCa, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      assertThat(server.tls.chains.hits()).as("no cached answer after the trust change").isEqualTo(1);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aCachedClientCertificatePastItsNotAfterByTheServersClockIsRefused(TlsProvider provider)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle trust = Pki.trust("t@1", CA);
    // Valid from a minute ago for an hour (TestCa's default).
    try (Server server = new Server(provider, trust, clock);
        ClientTls client = client(provider, Pki.client(CA, 1), trust, clientEvents, null)) {
      connect(server, client, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      connect(server, client, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      assertThat(server.tls.chains.hits()).isEqualTo(1);

      clock.advance(Duration.ofMinutes(61));
      connect(server, client, clientEvents, NAME, false)
          .assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
      // And again, now without a cached entry.
      connect(server, client, clientEvents, NAME, false)
          .assertFailed(Side.SERVER, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
      assertThat(server.tls.chains.hits()).isEqualTo(1);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aCachedServerCertificatePastItsNotAfterByTheClientsClockIsRefused(TlsProvider provider)
      throws Exception {
    MutableClock clock = MutableClock.startingNow();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle trust = Pki.trust("t@1", CA);
    try (Server server = new Server(provider, trust, null);
        ClientTls client = client(provider, Pki.client(CA, 1), trust, clientEvents, clock)) {
      connect(server, client, clientEvents, NAME, true);
      connect(server, client, clientEvents, NAME, true);
      assertThat(client.chains.hits()).isEqualTo(1);
      clientEvents.all().forEach(e -> e.assertSucceeded(Side.CLIENT, "TLSv1.3"));

      clock.advance(Duration.ofMinutes(61));
      connect(server, client, clientEvents, NAME, false);
      assertThat(clientEvents.all().get(2).assertFailed(Side.CLIENT, HandshakeFailure.EXPIRED_PEER_CERTIFICATE))
          .isNotNull();
      assertThat(client.chains.hits()).isEqualTo(1);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void certificatesOfAnotherCaAreRefusedAfterTheGenuineOneWasCached(TlsProvider provider)
      throws Exception {
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle trust = Pki.trust("t@1", CA);
    try (Server server = new Server(provider, trust, null);
        ClientTls genuine = client(provider, Pki.client(CA, 1), trust, clientEvents, null);
        // Same subject, same SANs, issuer named like the trusted CA: only the signature differs.
        ClientTls impostor = client(provider, Pki.client(IMPOSTOR, 1), trust, clientEvents, null);
        ClientTls foreign = client(provider, Pki.client(OTHER_CA, 1), trust, clientEvents, null)) {
      connect(server, genuine, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      connect(server, genuine, clientEvents, NAME, true).assertSucceeded(Side.SERVER, "TLSv1.3");
      for (int i = 0; i < 2; i++) {
        connect(server, impostor, clientEvents, NAME, false)
            .assertFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER);
        // A client does not even offer a certificate whose CA the server does not name.
        connect(server, foreign, clientEvents, NAME, false)
            .assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
      }
      assertThat(server.tls.chains.hits()).as("only the genuine chain was ever a hit").isEqualTo(1);
      assertThat(server.tls.chains.misses()).as("genuine once, impostor twice").isEqualTo(3);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aCachedServerChainStillHasToCarryTheDialledName(TlsProvider provider) throws Exception {
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle trust = Pki.trust("t@1", CA);
    try (Server server = new Server(provider, trust, null);
        ClientTls client = client(provider, Pki.client(CA, 1), trust, clientEvents, null)) {
      connect(server, client, clientEvents, NAME, true);
      connect(server, client, clientEvents, "billing.shop.svc", false);
      connect(server, client, clientEvents, NAME, true);
      assertThat(clientEvents.all().get(0).assertSucceeded(Side.CLIENT, "TLSv1.3")).isPresent();
      clientEvents.all().get(1).assertFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH);
      assertThat(clientEvents.all().get(2).assertSucceeded(Side.CLIENT, "TLSv1.3")).isPresent();
      assertThat(client.chains.hits()).as("the third connection, same name as the first").isEqualTo(1);
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aSessionFromBeforeATrustChangeIsNotResumedAfterIt(TlsProvider provider) throws Exception {
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TrustBundle both = Pki.trust("t@1", OLD_CA, CA);
    try (Server server = new Server(provider, both, null);
        ClientTls fromOld = client(provider, Pki.client(OLD_CA, 1), both, clientEvents, null);
        Echo.Server echo = new Echo.Server(LOOPS.group(), server.tls)) {
      for (int i = 0; i < 2; i++) {
        try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), fromOld, Echo.named(NAME, echo.port()))) {
          clientEvents.next();
          server.events.next().assertSucceeded(Side.SERVER, "TLSv1.3");
          assertThat(conn.request("hello")).isEqualTo("hello");
        }
      }
      // The second connection to the same host and port resumed: the server's trust manager was
      // not consulted again.
      assertThat(server.tls.chains.hits() + server.tls.chains.misses()).as("trust checks").isEqualTo(1);

      server.source.publish(new MtlsMaterial(server.source.current().identity(), Pki.trust("t@2", CA), 2));
      try (Echo.Conn conn = Echo.Conn.open(LOOPS.group(), fromOld, Echo.named(NAME, echo.port()))) {
        clientEvents.next();
        server.events.next().assertFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER);
        assertThat(conn.request("hello")).isNull();
      }
    }
  }
}
