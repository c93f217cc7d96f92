package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.testkit.TestCa;
import io.netty.channel.EventLoopGroup;
import java.math.BigInteger;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Identity and CA rotation while clients keep connecting and long-lived HTTP/1.1 keep-alive
 * connections keep talking, with the default connection bound on: nothing fails, old connections
 * keep working through identity rotations, new connections see the new certificate, and once the
 * old CA leaves the bundles the kept-alive connections made under it are ended gracefully
 * ({@code Connection: close}) and their clients go on over new connections without losing a request
 * (a request whose head the server never decoded, because it closed a quiet connection as the client
 * wrote on it, is sent again, as HTTP/1.1 clients do; one whose head it decoded must be answered).
 */
class RotationUnderLoadTest {

  private static final int IDENTITY_ROTATIONS = 10;
  private static final int NEW_CONNECTION_WORKERS = 2;
  private static final int LONG_LIVED = 3;
  private static final Duration STEP_TIMEOUT = Duration.ofSeconds(30);

  private final List<BigInteger> serverSerials = new CopyOnWriteArrayList<>();
  /** Index into serverSerials of the last identity whose publish has returned. */
  private final AtomicInteger published = new AtomicInteger();
  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLongArray completed = new AtomicLongArray(NEW_CONNECTION_WORKERS);
  private final AtomicLong longLivedRequests = new AtomicLong();

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void rotationsUnderLoadFailNothingAndNewConnectionsSeeNewCertificates(TlsProvider provider)
      throws Exception {
    TestCa oldCa = TestCa.create("old CA");
    TestCa newCa = TestCa.create("new CA");
    TlsIdentity firstServer = Pki.server(oldCa, 1);
    serverSerials.add(firstServer.leaf().getSerialNumber());
    MaterialPublisher serverSource =
        new MaterialPublisher(new MtlsMaterial(firstServer, Pki.trust("v1", oldCa), 1));
    MaterialPublisher clientSource =
        new MaterialPublisher(new MtlsMaterial(Pki.client(oldCa, 1), Pki.trust("v1", oldCa), 1));
    EventLoopGroup group = Echo.group(2);
    ExecutorService load = Executors.newFixedThreadPool(NEW_CONNECTION_WORKERS + 1);
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).provider(provider).build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).provider(provider).build();
        Echo.Server server = new Echo.Server(group, serverTls);
        Http1.Server http = new Http1.Server(group, serverTls)) {
      List<Http1.KeepAliveClient> longLived = new ArrayList<>();
      for (int i = 0; i < LONG_LIVED; i++) {
        longLived.add(new Http1.KeepAliveClient(group, clientTls, Echo.named("orders.shop.svc", http.port()), http));
      }
      for (int w = 0; w < NEW_CONNECTION_WORKERS; w++) {
        int worker = w;
        load.submit(() -> newConnections(worker, group, clientTls, server.port()));
      }
      load.submit(() -> Http1.talk(longLived, stop, longLivedRequests, failures));
      awaitProgress();

      for (int i = 0; i < IDENTITY_ROTATIONS; i++) {
        MtlsMaterial s = serverSource.current();
        publishServer(serverSource, s.withIdentity(Pki.server(oldCa, s.identity().generation() + 1)));
        MtlsMaterial c = clientSource.current();
        clientSource.publish(c.withIdentity(Pki.client(oldCa, c.identity().generation() + 1)));
        awaitProgress();
      }
      // CA rotation: trust both, then move identities to the new CA, then trust only the new CA.
      serverSource.publish(serverSource.current().withTrust(Pki.trust("v2", oldCa, newCa)));
      clientSource.publish(clientSource.current().withTrust(Pki.trust("v2", oldCa, newCa)));
      awaitProgress();
      MtlsMaterial s = serverSource.current();
      publishServer(serverSource, s.withIdentity(Pki.server(newCa, s.identity().generation() + 1)));
      MtlsMaterial c = clientSource.current();
      clientSource.publish(c.withIdentity(Pki.client(newCa, c.identity().generation() + 1)));
      awaitProgress();
      // Through identity rotations and a CA moving in, the kept-alive connections stayed open.
      for (Http1.KeepAliveClient client : longLived) {
        assertThat(client.dialled.get()).isEqualTo(1);
      }
      serverSource.publish(serverSource.current().withTrust(Pki.trust("v3", newCa)));
      clientSource.publish(clientSource.current().withTrust(Pki.trust("v3", newCa)));
      awaitProgress();

      stop.set(true);
      load.shutdown();
      assertThat(load.awaitTermination(STEP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();

      assertThat(failures).isEmpty();
      assertThat(serverSerials).hasSize(IDENTITY_ROTATIONS + 2);
      assertThat(completed.get(0) + completed.get(1)).isGreaterThanOrEqualTo(2L * (IDENTITY_ROTATIONS + 4));
      assertThat(longLivedRequests.get()).isPositive();
      // Each kept-alive client ran on its first connection, with the very first keys, through the
      // identity rotations and until the old CA left the bundles; then it went on over a new one.
      for (int k = 0; k < longLived.size(); k++) {
        Http1.KeepAliveClient client = longLived.get(k);
        // A client the load stopped before it heard Connection: close hears it now.
        for (int i = 0; i < 3 && client.dialled.get() < 2; i++) {
          String body = "last-" + k + "-" + i;
          assertThat(client.request(body)).extracting(Http1.Answer::body).isEqualTo(body);
        }
        assertThat(client.dialled.get()).isGreaterThanOrEqualTo(2);
        assertThat(client.request("still here " + k)).isEqualTo(new Http1.Answer("still here " + k, false));
        assertThat(client.conn.serverLeaf().getIssuerX500Principal())
            .isEqualTo(newCa.certificate().getSubjectX500Principal());
      }
      System.out.printf("%s: %d long-lived requests, %d sent again after a quiet connection's close%n", provider,
          longLivedRequests.get(), longLived.stream().mapToLong(k -> k.resent.get()).sum());
      // Nothing pins the first context any more.
      await().atMost(STEP_TIMEOUT).until(() -> serverTls.liveContexts() == 1);
      for (Http1.KeepAliveClient client : longLived) {
        client.close();
      }
    } finally {
      stop.set(true);
      load.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private void publishServer(MaterialPublisher source, MtlsMaterial material) {
    // Known before it is published, since a connection may see it before publish() returns.
    serverSerials.add(material.identity().leaf().getSerialNumber());
    source.publish(material);
    published.set(serverSerials.size() - 1);
  }

  /** Waits until every worker has finished two more connections, so each has seen the change. */
  private void awaitProgress() {
    long[] before = new long[NEW_CONNECTION_WORKERS];
    for (int w = 0; w < before.length; w++) {
      before[w] = completed.get(w);
    }
    long requestsBefore = longLivedRequests.get();
    await().atMost(STEP_TIMEOUT).until(() -> {
      if (!failures.isEmpty()) {
        return true;
      }
      for (int w = 0; w < before.length; w++) {
        if (completed.get(w) < before[w] + 2) {
          return false;
        }
      }
      return longLivedRequests.get() > requestsBefore;
    });
    assertThat(failures).isEmpty();
  }

  private void newConnections(int worker, EventLoopGroup group, ClientTls tls, int port) {
    int n = 0;
    while (!stop.get()) {
      int atLeast = published.get();
      String line = "w" + worker + "-" + n++;
      try (Echo.Conn conn = Echo.Conn.open(group, tls, Echo.named("orders.shop.svc", port))) {
        String echoed = conn.request(line);
        if (!line.equals(echoed)) {
          failures.add(line + ": got " + echoed + ", errors " + conn.errors
              + ", peer " + conn.peer().cause());
          continue;
        }
        int seen = serverSerials.indexOf(conn.serverLeaf().getSerialNumber());
        if (seen < atLeast) {
          failures.add(line + ": opened after publish #" + atLeast + " but saw certificate #" + seen);
        }
        completed.incrementAndGet(worker);
      } catch (Exception e) {
        failures.add(line + ": " + e);
      }
    }
  }
}
