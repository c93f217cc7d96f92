package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.signer.internal.CaRotation;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.signer.it.ShortLivedSigner.ServerCertificates;
import dev.kubemtls.signer.it.ShortLivedSigner.Workload;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.math.BigInteger;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Netty mTLS with certificates issued through our signer on the real control plane: two workloads
 * (server and client ServiceAccounts) get 20-second certificates from an in-process signer, talk
 * over a real mutual handshake on 127.0.0.1, and keep talking without a single failure while both
 * renew at least three times and the signer rotates its CA. They trust the signed bundle ConfigMap,
 * so a rotation passes its signature check (each bundle vouched for by a CA already trusted).
 */
class SignerIssuedRotationIT {

  private static final int WORKERS = 2;
  private static final int LONG_LIVED = 3;
  private static final Duration STEP = Duration.ofSeconds(30);

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLong connections = new AtomicLong();
  private final AtomicLong longLivedRequests = new AtomicLong();

  @Test
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  void mutualTlsSurvivesRenewalsAndACaRotationUnderLoad() throws Exception {
    long started = System.nanoTime();
    // The workloads trust the signed bundle ConfigMap (the Jetty and gRPC rotation tests trust the
    // ClusterTrustBundle, the default where the cluster serves it): a real rotation goes through it.
    try (ShortLivedSigner signer = new ShortLivedSigner("netty-it", ShortLivedSigner.Trust.CONFIG_MAP)) {
      String ns = signer.namespace("netty-it");
      Workload server = signer.workload(ns, "orders");
      Workload client = signer.workload(ns, "checkout");
      EventLoopGroup group = Echo.group(2);
      ExecutorService load = Executors.newFixedThreadPool(WORKERS + 1);
      // The long-lived echo connections here outlive every renewal and the CA rotation: the
      // connection bound (on by default, which would end them once the CA is retired or their
      // short-lived certificates expire) is off; GracefulEndTest and RotationUnderLoadTest cover it.
      try (ServerTls serverTls = NettyMtls.forServer(server.mtls()).unboundedConnections().build();
          ClientTls clientTls = NettyMtls.forClient(client.mtls()).unboundedConnections().build();
          Echo.Server echo = new Echo.Server(group, serverTls);
          ServerCertificates certificates = new ServerCertificates(server.mtls())) {
        // One mutual handshake: each side sees the other's SPIFFE ID, issued by our signer.
        try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named(server.serviceHost(), echo.port()))) {
          assertThat(conn.request("hello")).isEqualTo("hello");
          PeerIdentity serverSeenByClient = conn.peer().getNow();
          assertThat(serverSeenByClient.spiffeId()).contains(server.spiffeId());
          assertThat(serverSeenByClient.dnsNames()).contains(server.serviceHost());
          assertThat(serverSeenByClient.ipAddresses()).contains(server.podIp);
          Future<PeerIdentity> clientSeenByServer = echo.nextPeer();
          assertThat(clientSeenByServer.isSuccess()).as("server side: %s", clientSeenByServer.cause()).isTrue();
          assertThat(clientSeenByServer.getNow().spiffeId()).contains(client.spiffeId());
          assertThat(conn.serverLeaf().getSerialNumber()).isEqualTo(server.serial());
        }

        List<Echo.Conn> longLived = new ArrayList<>();
        for (int i = 0; i < LONG_LIVED; i++) {
          longLived.add(Echo.Conn.open(group, clientTls, Echo.named(server.serviceHost(), echo.port())));
        }
        for (int w = 0; w < WORKERS; w++) {
          int worker = w;
          load.submit(() -> newConnections(worker, group, clientTls, server, echo.port(), certificates));
        }
        load.submit(() -> Echo.talk(longLived, stop, longLivedRequests, failures));
        awaitProgress();

        // Natural renewals, and a CA rotation while the load goes on.
        CertificateAuthority next = signer.renewAndRotateCa(3, STEP);
        BigInteger afterRotation = server.serial();
        awaitProgress();

        // A connection opened now presents a certificate from the new CA, the current one or newer.
        try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named(server.serviceHost(), echo.port()))) {
          assertThat(conn.request("after")).isEqualTo("after");
          X509Certificate leaf = conn.serverLeaf();
          leaf.verify(next.certificate().getPublicKey());
          certificates.saw(afterRotation, leaf.getSerialNumber());
        }

        stop.set(true);
        load.shutdown();
        assertThat(load.awaitTermination(STEP.toSeconds(), TimeUnit.SECONDS)).isTrue();
        for (Echo.Conn conn : longLived) {
          assertThat(conn.request("still here")).isEqualTo("still here");
          conn.close();
        }

        assertThat(failures).isEmpty();
        assertThat(signer.problems()).isEmpty();
        assertThat(signer.caChanges).contains(CaRotation.Change.STARTED, CaRotation.Change.SWITCHED,
            CaRotation.Change.RETIRED);
        assertThat(longLivedRequests.get()).isPositive();
        assertThat(certificates.stale()).isEmpty();
        // The server saw the client's identity on every connection it accepted.
        int accepted = 0;
        for (Future<PeerIdentity> f; (f = echo.peers.poll()) != null; accepted++) {
          f.await(Echo.TIMEOUT.toMillis());
          assertThat(f.isSuccess()).as("server-side peer: %s", f.cause()).isTrue();
          assertThat(f.getNow().spiffeId()).isEqualTo(Optional.of(client.spiffeId()));
        }
        assertThat(accepted).isGreaterThanOrEqualTo((int) connections.get());
        System.out.printf("netty IT: %d requests (%d on %d long-lived connections) over %d new connections, "
                + "server rotations %d, client rotations %d, server certificates %d, CA changes %s, failures %d,"
                + " %d s%n", connections.get() + longLivedRequests.get(), longLivedRequests.get(), LONG_LIVED,
            connections.get(), server.events.rotations.get(), client.events.rotations.get(), certificates.count(),
            signer.caChanges, failures.size(), Duration.ofNanos(System.nanoTime() - started).toSeconds());
      } finally {
        stop.set(true);
        load.shutdownNow();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      }
    }
  }

  /** Waits until the workers finished two more connections each and a long-lived connection talked. */
  private void awaitProgress() {
    long before = connections.get();
    long longBefore = longLivedRequests.get();
    await().atMost(STEP).until(() -> !failures.isEmpty()
        || (connections.get() >= before + 2L * WORKERS && longLivedRequests.get() > longBefore));
    assertThat(failures).isEmpty();
  }

  /** One request per new connection; the server certificate must be current as of the connect. */
  private void newConnections(int worker, EventLoopGroup group, ClientTls tls, Workload server, int port,
      ServerCertificates certificates) {
    int n = 0;
    while (!stop.get()) {
      String line = "w" + worker + "-" + n++;
      BigInteger current = server.serial();
      try (Echo.Conn conn = Echo.Conn.open(group, tls, Echo.named(server.serviceHost(), port))) {
        String echoed = conn.request(line);
        if (!line.equals(echoed)) {
          failures.add(line + ": got " + echoed + ", errors " + conn.errors + ", peer " + conn.peer().cause());
          continue;
        }
        certificates.saw(current, conn.serverLeaf().getSerialNumber());
        connections.incrementAndGet();
      } catch (Exception e) {
        failures.add(line + ": " + e);
      }
    }
  }
}
