package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.servlet.internal.ConnectionBound;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.net.URI;
import java.time.Duration;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * A real Jetty server and client on loopback: a kept-alive connection ends, by default, at the
 * client certificate's notAfter (read from an injected clock) and when the client's CA leaves the
 * server's bundle, and at the maximum age; the next request comes on a new connection and succeeds.
 */
class ConnectionBoundTest {

  private static final TestCa CA = TestCa.create("bound CA one");
  private static final TestCa OTHER = TestCa.create("bound CA two");

  private static void awaitServerConnections(TestServer server, int count) {
    Awaitility.await("the server to hold " + count + " connection(s)").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> server.connector.getConnectedEndPoints().size() == count);
  }

  /** The server closed the connection: wait until the client has seen the close, too. */
  private static void awaitClosedOnBothSides(TestServer server, RecordingClient client) {
    awaitServerConnections(server, 0);
    Awaitility.await("the client to see the close").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> client.http.getDestinations().stream().mapToInt(d ->
            ((org.eclipse.jetty.client.AbstractConnectionPool) d.getConnectionPool()).getConnectionCount()).sum() == 0);
  }

  private static MaterialPublisher client(TestCa ca, TrustBundle trust) {
    return new MaterialPublisher(new MtlsMaterial(Pki.identity(ca, 1, "billing", "invoicer"), trust, 1));
  }

  @Test
  void aKeptAliveConnectionEndsAtTheClientCertificatesNotAfterByDefault() throws Exception {
    TrustBundle trust = Pki.bundle("t@1", CA);
    TlsIdentity clientIdentity = Pki.identity(CA, 1, "billing", "invoicer");
    // The server's clock stands 2 s before the client certificate expires: the bound is due 2 s
    // after the handshake, and the idle connection closed a grace (1 s) later. The first request
    // must start before that, so the margin is wide for a loaded machine (with 200 ms, a request
    // that took 1.2 s to reach the server would have met a closed connection).
    MutableClock clock = new MutableClock(clientIdentity.notAfter().minusSeconds(2));
    try (TestServer server = new TestServer(new MaterialPublisher(Pki.material(CA, "payments", "api", trust)),
            b -> b.clock(clock), null);
        RecordingClient client = new RecordingClient(new MaterialPublisher(new MtlsMaterial(clientIdentity, trust, 1)))) {
      URI uri = server.uri("/x");
      assertThat(client.get(uri, false).getStatus()).isEqualTo(200);
      assertThat(server.connector.getBeans(ConnectionBound.class)).hasSize(1);
      awaitClosedOnBothSides(server, client);
      assertThat(client.get(uri, false).getStatus()).as("served on a new connection").isEqualTo(200);
      assertThat(client.handshakes).hasValue(2);
    }
  }

  @Test
  void theMaximumAgeEndsAConnectionWhoseCertificatesAreGood() throws Exception {
    TrustBundle trust = Pki.bundle("t@1", CA);
    try (TestServer server = new TestServer(new MaterialPublisher(Pki.material(CA, "payments", "api", trust)),
            b -> b.maxConnectionAge(Duration.ofSeconds(2)), null);
        RecordingClient client = new RecordingClient(client(CA, trust))) {
      URI uri = server.uri("/x");
      assertThat(client.get(uri, false).getStatus()).isEqualTo(200);
      awaitClosedOnBothSides(server, client);
      assertThat(client.get(uri, false).getStatus()).isEqualTo(200);
      assertThat(client.handshakes).hasValue(2);
    }
  }

  @Test
  void aConnectionUnderACaThatLeavesTheBundleEndsOthersStay() throws Exception {
    TrustBundle both = Pki.bundle("t@1", CA, OTHER);
    MaterialPublisher serverSource = new MaterialPublisher(Pki.material(CA, "payments", "api", both));
    try (TestServer server = new TestServer(serverSource, b -> b, null);
        RecordingClient retiring = new RecordingClient(client(OTHER, both));
        RecordingClient staying = new RecordingClient(client(CA, both))) {
      URI uri = server.uri("/x");
      assertThat(retiring.get(uri, false).getStatus()).isEqualTo(200);
      assertThat(staying.get(uri, false).getStatus()).isEqualTo(200);
      awaitServerConnections(server, 2);

      // A CA rotation retires OTHER from the server's bundle.
      serverSource.publish(new MtlsMaterial(serverSource.current().identity(), Pki.bundle("t@2", CA), 2));
      awaitServerConnections(server, 1);
      assertThat(staying.get(uri, false).getStatus()).isEqualTo(200);
      assertThat(staying.handshakes).as("the connection under the kept CA stayed").hasValue(1);
    }
  }

  @Test
  void unboundedConnectionsHaveNoBound() throws Exception {
    TrustBundle trust = Pki.bundle("t@1", CA);
    try (TestServer server = new TestServer(new MaterialPublisher(Pki.material(CA, "payments", "api", trust)),
            JettyMtls.ServerBuilder::unboundedConnections, null)) {
      assertThat(server.connector.getBeans(ConnectionBound.class)).isEmpty();
    }
    assertThatThrownBy(() -> JettyMtls.forServer(new MaterialPublisher()).maxConnectionAge(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
