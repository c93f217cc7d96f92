package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.signer.internal.CaRotation;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.signer.it.ShortLivedSigner.ServerCertificates;
import dev.kubemtls.signer.it.ShortLivedSigner.Workload;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.util.SocketAddressResolver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Jetty mTLS with certificates issued through our signer on the real control plane: a
 * {@link JettyMtls} server behind {@link MtlsPeerFilter} (allowing only the client's
 * ServiceAccount) and Jetty {@code HttpClient}s from {@link JettyMtls#forClient}, both following
 * {@code KubeMtls} workloads with 20-second certificates, serve every request while both sides renew
 * at least three times and the signer rotates its CA.
 */
class SignerIssuedRotationIT {

  private static final int NEW_CONNECTION_WORKERS = 2;
  private static final int KEEP_ALIVE_WORKERS = 1;
  private static final Duration STEP = Duration.ofSeconds(30);

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLong newConnectionRequests = new AtomicLong();
  private final AtomicLong keepAliveRequests = new AtomicLong();

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void requestsSucceedAcrossRenewalsAndACaRotation() throws Exception {
    long started = System.nanoTime();
    List<RecordingClient> clients = new ArrayList<>();
    List<Thread> workers = new ArrayList<>();
    try (ShortLivedSigner signer = new ShortLivedSigner("jetty-it")) {
      String ns = signer.namespace("jetty-it");
      Workload server = signer.workload(ns, "payments");
      Workload client = signer.workload(ns, "invoicer");
      String expectedBody = "spiffe=" + client.spiffeId() + " ns=" + ns + " sa=invoicer";
      MtlsPeerFilter filter = MtlsPeerFilter.builder()
          .policy(PeerPolicy.builder().allowServiceAccount(ns, "invoicer").build()).build();
      // The connector reloads in its own listener, before ours: a serial listed in certificates is
      // in the connector.
      try (TestServer s = TestServer.start(server.mtls(), filter);
          ServerCertificates certificates = new ServerCertificates(server.mtls())) {
        URI uri = URI.create("https://" + server.serviceHost() + ":" + s.connector.getLocalPort() + "/call");
        SocketAddressResolver loopback = (host, port, context, promise) -> {
          try {
            promise.succeeded(List.of(new InetSocketAddress(
                InetAddress.getByAddress(host, new byte[] {127, 0, 0, 1}), port)));
          } catch (UnknownHostException e) {
            promise.failed(e);
          }
        };

        // One mutual handshake: the filter sees the client's identity, the client the server's.
        RecordingClient first = new RecordingClient(client.mtls(), loopback);
        clients.add(first);
        ContentResponse hello = first.get(uri, true);
        assertThat(hello.getStatus()).isEqualTo(200);
        assertThat(hello.getContentAsString()).startsWith(expectedBody)
            .contains("principal=" + client.spiffeId());
        assertThat(new BigInteger(first.lastServerSerial.get(), 16)).isEqualTo(server.serial());

        for (int i = 0; i < NEW_CONNECTION_WORKERS + KEEP_ALIVE_WORKERS; i++) {
          boolean newConnection = i < NEW_CONNECTION_WORKERS;
          RecordingClient c = new RecordingClient(client.mtls(), loopback);
          clients.add(c);
          Thread t = new Thread(() -> work(uri, c, newConnection, expectedBody, certificates), "load-" + i);
          workers.add(t);
          t.start();
        }
        awaitProgress();

        CertificateAuthority next = signer.renewAndRotateCa(3, STEP);
        awaitProgress();

        // A connection opened now presents a certificate from the new CA.
        RecordingClient last = new RecordingClient(client.mtls(), loopback);
        clients.add(last);
        BigInteger before = certificates.latest();
        assertThat(last.get(uri, true).getContentAsString()).startsWith(expectedBody);
        BigInteger lastSeen = new BigInteger(last.lastServerSerial.get(), 16);
        certificates.saw(before, lastSeen);
        assertThat(ShortLivedSigner.issuedBy(server.mtls().current(), next.certificate())).isTrue();

        stop.set(true);
        for (Thread t : workers) {
          t.join(STEP.toMillis());
          assertThat(t.isAlive()).as("worker %s finished", t.getName()).isFalse();
        }

        assertThat(failures).isEmpty();
        assertThat(s.handshakeFailures).isEmpty();
        assertThat(signer.problems()).isEmpty();
        assertThat(signer.caChanges).contains(CaRotation.Change.STARTED, CaRotation.Change.SWITCHED,
            CaRotation.Change.RETIRED);
        assertThat(certificates.stale()).isEmpty();
        int newConnectionHandshakes = clients.subList(1, 1 + NEW_CONNECTION_WORKERS).stream()
            .mapToInt(c -> c.handshakes.get()).sum();
        assertThat(newConnectionHandshakes).isEqualTo((int) newConnectionRequests.get());
        assertThat(keepAliveRequests.get()).isPositive();
        System.out.printf("jetty IT: %d requests (%d on new connections, %d kept alive), server rotations %d,"
                + " client rotations %d, server certificates %d, CA changes %s, servlet calls %d, failures %d,"
                + " %d s%n", newConnectionRequests.get() + keepAliveRequests.get(), newConnectionRequests.get(),
            keepAliveRequests.get(), server.events.rotations.get(), client.events.rotations.get(),
            certificates.count(), signer.caChanges, s.servletCalls.get(), failures.size(),
            Duration.ofNanos(System.nanoTime() - started).toSeconds());
      } finally {
        stop.set(true);
        for (RecordingClient c : clients) {
          c.close();
        }
      }
    }
  }

  /** Waits until each worker finished two more requests. */
  private void awaitProgress() {
    long newBefore = newConnectionRequests.get();
    long keptBefore = keepAliveRequests.get();
    await().atMost(STEP).until(() -> !failures.isEmpty()
        || (newConnectionRequests.get() >= newBefore + 2L * NEW_CONNECTION_WORKERS
        && keepAliveRequests.get() >= keptBefore + 2L * KEEP_ALIVE_WORKERS));
    assertThat(failures).isEmpty();
  }

  private void work(URI uri, RecordingClient client, boolean newConnection, String expectedBody,
      ServerCertificates certificates) {
    while (!stop.get()) {
      BigInteger before = certificates.latest();
      try {
        ContentResponse response = client.get(uri, newConnection);
        if (response.getStatus() != 200 || !response.getContentAsString().startsWith(expectedBody)) {
          failures.add(response.getStatus() + " " + response.getContentAsString());
          continue;
        }
        if (newConnection) {
          certificates.saw(before, new BigInteger(client.lastServerSerial.get(), 16));
        }
        (newConnection ? newConnectionRequests : keepAliveRequests).incrementAndGet();
      } catch (Exception e) {
        failures.add(e.toString());
      }
    }
  }
}
