package dev.kubemtls.servlet;

import dev.kubemtls.core.tls.MtlsSslContexts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.Test;

/**
 * Client threads call a real server without pause while both sides get new identities and the CA
 * rotates with an overlap. Every request must succeed, and every connection opened after a server
 * renewal must see the renewed certificate.
 */
class RotationUnderLoadTest {

  private static final int NEW_CONNECTION_WORKERS = 2;
  private static final int KEEP_ALIVE_WORKERS = 2;
  /** Workers on one JDK HttpClient over {@link MtlsSslContexts#following}, keeping connections alive. */
  private static final int JDK_WORKERS = 1;
  private static final int RENEWALS_PER_CA = 5;
  /** Requests each worker completes, started after a publish, before the next publish. */
  private static final int REQUESTS_BETWEEN_STEPS = 2;

  private final Map<String, Integer> serverSerialIndex = new ConcurrentHashMap<>();
  private final AtomicInteger serverIdentities = new AtomicInteger();
  private volatile int currentServerIndex;
  private final List<AtomicLong> completed = new ArrayList<>();
  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final List<String> staleHandshakes = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLong newConnectionRequests = new AtomicLong();
  private final AtomicLong keepAliveRequests = new AtomicLong();
  private final AtomicLong jdkRequests = new AtomicLong();

  @Test
  void noRequestFailsWhileIdentitiesRenewAndTheCaRotates() throws Exception {
    TestCa oldCa = TestCa.create("rotation CA 1");
    TestCa newCa = TestCa.create("rotation CA 2");
    TrustBundle oldOnly = Pki.bundle("bundle@1", oldCa);
    TrustBundle overlap = Pki.bundle("bundle@2", oldCa, newCa);
    TrustBundle newOnly = Pki.bundle("bundle@3", newCa);

    TlsIdentity firstServer = Pki.identity(oldCa, 1, "payments", "api");
    serverSerialIndex.put(serial(firstServer), 0);
    MaterialPublisher server = new MaterialPublisher(new MtlsMaterial(firstServer, oldOnly, 1));
    MaterialPublisher client = new MaterialPublisher(
        new MtlsMaterial(Pki.identity(oldCa, 1, "billing", "invoicer"), oldOnly, 1));

    List<RecordingClient> newConnectionClients = new ArrayList<>();
    List<RecordingClient> keepAliveClients = new ArrayList<>();
    List<Thread> workers = new ArrayList<>();
    long started = System.nanoTime();
    try (TestServer s = TestServer.start(server, MtlsPeerFilter.builder().build())) {
      for (int i = 0; i < NEW_CONNECTION_WORKERS + KEEP_ALIVE_WORKERS; i++) {
        boolean newConnection = i < NEW_CONNECTION_WORKERS;
        RecordingClient c = new RecordingClient(client);
        (newConnection ? newConnectionClients : keepAliveClients).add(c);
        AtomicLong count = new AtomicLong();
        completed.add(count);
        Thread t = new Thread(() -> work(s, c, newConnection, count), "load-" + i);
        workers.add(t);
        t.start();
      }
      java.net.http.HttpClient jdk = java.net.http.HttpClient.newBuilder()
          .sslContext(MtlsSslContexts.following(client)).sslParameters(MtlsSslContexts.sslParameters())
          .version(java.net.http.HttpClient.Version.HTTP_1_1).build();
      for (int i = 0; i < JDK_WORKERS; i++) {
        AtomicLong count = new AtomicLong();
        completed.add(count);
        Thread t = new Thread(() -> workJdk(s, jdk, count), "load-jdk-" + i);
        workers.add(t);
        t.start();
      }
      awaitProgress();

      for (int i = 0; i < RENEWALS_PER_CA; i++) {
        renewServer(server, oldCa);
        renewClient(client, oldCa);
      }
      // CA rotation: trust both, move identities to the new CA, then drop the old CA.
      step(() -> server.publish(server.current().withTrust(overlap)));
      step(() -> client.publish(client.current().withTrust(overlap)));
      renewServer(server, newCa);
      renewClient(client, newCa);
      step(() -> server.publish(server.current().withTrust(newOnly)));
      step(() -> client.publish(client.current().withTrust(newOnly)));
      for (int i = 0; i < RENEWALS_PER_CA; i++) {
        renewServer(server, newCa);
        renewClient(client, newCa);
      }

      stop.set(true);
      for (Thread t : workers) {
        t.join(Duration.ofSeconds(30).toMillis());
        assertThat(t.isAlive()).as("worker %s finished", t.getName()).isFalse();
      }
      long elapsedMs = (System.nanoTime() - started) / 1_000_000;
      int newConnectionHandshakes = newConnectionClients.stream().mapToInt(c -> c.handshakes.get()).sum();
      int keepAliveHandshakes = keepAliveClients.stream().mapToInt(c -> c.handshakes.get()).sum();
      System.out.printf("rotation under load: %d requests on new connections (%d handshakes),"
          + " %d on kept-alive connections (%d handshakes), %d on a JDK HttpClient,"
          + " %d server and %d client identities,"
          + " 2 trust changes per side, %d ms, %d failures%n",
          newConnectionRequests.get(), newConnectionHandshakes, keepAliveRequests.get(),
          keepAliveHandshakes, jdkRequests.get(), serverIdentities.get() + 1, serverIdentities.get() + 1, elapsedMs,
          failures.size());

      assertThat(failures).isEmpty();
      assertThat(staleHandshakes).isEmpty();
      assertThat(serverIdentities.get()).isGreaterThanOrEqualTo(10);
      assertThat(newConnectionHandshakes).isEqualTo((int) newConnectionRequests.get());
      assertThat(keepAliveHandshakes).isLessThan((int) keepAliveRequests.get() / 4);
      String finalSerial = serial(server.current().identity());
      assertThat(newConnectionClients).allSatisfy(c -> assertThat(c.lastServerSerial.get()).isEqualTo(finalSerial));
      assertThat(s.handshakeFailures).isEmpty();
    } finally {
      stop.set(true);
      for (RecordingClient c : newConnectionClients) {
        c.close();
      }
      for (RecordingClient c : keepAliveClients) {
        c.close();
      }
    }
  }

  private void work(TestServer server, RecordingClient client, boolean newConnection, AtomicLong count) {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (!stop.get() && System.nanoTime() < deadline) {
      int minIndex = currentServerIndex;
      try {
        ContentResponse response = client.get(server.uri("/load"), newConnection);
        if (response.getStatus() != 200
            || !response.getContentAsString().startsWith("spiffe=spiffe://cluster.local/ns/billing/sa/invoicer")) {
          failures.add(response.getStatus() + " " + response.getContentAsString());
        }
        if (newConnection) {
          String seen = client.lastServerSerial.get();
          Integer index = serverSerialIndex.get(seen);
          if (index == null || index < minIndex) {
            staleHandshakes.add("saw server identity " + index + " after identity " + minIndex + " was published");
          }
        }
      } catch (Exception e) {
        failures.add(e.toString());
      }
      (newConnection ? newConnectionRequests : keepAliveRequests).incrementAndGet();
      count.incrementAndGet();
    }
  }

  private void workJdk(TestServer server, java.net.http.HttpClient jdk, AtomicLong count) {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    java.net.http.HttpRequest request = java.net.http.HttpRequest.newBuilder(server.uri("/jdk"))
        .timeout(Duration.ofSeconds(10)).build();
    while (!stop.get() && System.nanoTime() < deadline) {
      try {
        java.net.http.HttpResponse<String> response =
            jdk.send(request, java.net.http.HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200
            || !response.body().startsWith("spiffe=spiffe://cluster.local/ns/billing/sa/invoicer")) {
          failures.add("jdk " + response.statusCode() + " " + response.body());
        }
      } catch (Exception e) {
        failures.add("jdk " + e);
      }
      jdkRequests.incrementAndGet();
      count.incrementAndGet();
    }
  }

  private void renewServer(MaterialPublisher server, TestCa ca) {
    int index = serverIdentities.incrementAndGet();
    TlsIdentity next = Pki.identity(ca, index + 1, "payments", "api");
    serverSerialIndex.put(serial(next), index);
    step(() -> {
      server.publish(server.current().withIdentity(next));
      currentServerIndex = index;
    });
  }

  private void renewClient(MaterialPublisher client, TestCa ca) {
    long generation = client.current().identity().generation() + 1;
    step(() -> client.publish(client.current().withIdentity(Pki.identity(ca, generation, "billing", "invoicer"))));
  }

  /** Publishes, then waits until every worker has finished requests started after the publish. */
  private void step(Runnable publish) {
    publish.run();
    awaitProgress();
  }

  private void awaitProgress() {
    long[] before = completed.stream().mapToLong(AtomicLong::get).toArray();
    await().atMost(Duration.ofSeconds(20)).until(() -> {
      for (int i = 0; i < before.length; i++) {
        if (completed.get(i).get() < before[i] + REQUESTS_BETWEEN_STEPS) {
          return false;
        }
      }
      return true;
    });
  }

  private static String serial(TlsIdentity identity) {
    return identity.leaf().getSerialNumber().toString(16);
  }
}
