package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.TestCa;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ReferenceCounted;
import io.netty.util.ResourceLeakDetectorFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Hundreds of rotations, each followed by a connection, leave exactly one live OpenSSL context and
 * no leak that Netty's paranoid leak detector can find. Every context the server built is followed
 * directly: each superseded one must reach a reference count of zero once its connection closed,
 * which proves the release without depending on how many rotations the garbage collector needs to
 * notice a leak. Runs in its own JVM (see the module pom) so that the recording detector is
 * installed before Netty creates its detectors.
 */
class ContextLeakTest {

  private static final int ROTATIONS = 300;
  private static final List<String> LEAKS = new CopyOnWriteArrayList<>();

  static {
    ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
  }

  @Test
  void thousandsOfRotationsLeaveOneLiveContextAndNoLeaks() throws Exception {
    TestCa ca = TestCa.create("leak test CA");
    TrustBundle trust = Pki.trust("v1", ca);
    List<TlsIdentity> identities = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      identities.add(Pki.server(ca, 1));
    }
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(identities.get(0), trust, 1));
    MaterialPublisher clientSource = new MaterialPublisher(new MtlsMaterial(Pki.client(ca, 1), trust, 1));
    EventLoopGroup group = Echo.group(2);
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).provider(TlsProvider.OPENSSL).build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).provider(TlsProvider.OPENSSL).build();
        Echo.Server server = new Echo.Server(group, serverTls)) {
      int maxLive = 0;
      List<ReferenceCounted> built = new ArrayList<>();
      built.add((ReferenceCounted) serverTls.currentContext());
      for (int i = 1; i <= ROTATIONS; i++) {
        MtlsMaterial current = serverSource.current();
        TlsIdentity next = identities.get(i % identities.size());
        serverSource.publish(current.withIdentity(
            new TlsIdentity(next.privateKey(), next.chain(), current.identity().generation() + 1)));
        built.add((ReferenceCounted) serverTls.currentContext());
        try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
          assertThat(conn.request("r" + i)).isEqualTo("r" + i);
          assertThat(conn.serverLeaf().getSerialNumber()).isEqualTo(next.leaf().getSerialNumber());
        }
        server.peers.clear();
        server.children.clear();
        if (i % 100 == 0) {
          maxLive = Math.max(maxLive, serverTls.liveContexts());
        }
      }
      assertThat(serverTls.generation()).isEqualTo(ROTATIONS + 1L);
      // At most the current context and the one whose last connection is still closing.
      assertThat(maxLive).isLessThanOrEqualTo(3);
      await().atMost(Duration.ofSeconds(30)).until(() -> serverTls.liveContexts() == 1);
      assertThat(clientTls.liveContexts()).isEqualTo(1);
      assertThat(built).hasSize(ROTATIONS + 1).doesNotHaveDuplicates();
      assertThat(built.subList(0, ROTATIONS)).allSatisfy(c -> assertThat(c.refCnt()).isZero());
      assertThat(built.get(ROTATIONS).refCnt()).isPositive();

      // A canary proves the detector is live: leak one buffer on purpose, then collect garbage and
      // exercise every tracked type until the canary is reported. Any leak from the rotations is
      // reported by then too.
      leakCanary();
      await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
        System.gc();
        PooledByteBufAllocator.DEFAULT.directBuffer(16).release();
        try (Echo.Conn conn = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()))) {
          conn.request("poll");
        }
        return LEAKS.stream().anyMatch(l -> l.contains("kube-mtls-canary"));
      });
      assertThat(LEAKS).allSatisfy(l -> assertThat(l).contains("kube-mtls-canary"));
    } finally {
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private static void leakCanary() {
    ByteBuf canary = PooledByteBufAllocator.DEFAULT.directBuffer(16);
    canary.touch("kube-mtls-canary");
  }

  private static final class RecordingFactory extends ResourceLeakDetectorFactory {
    @Override
    public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval,
        long maxActive) {
      return new ResourceLeakDetector<T>(resource, samplingInterval) {
        @Override
        protected void reportTracedLeak(String resourceType, String records) {
          LEAKS.add(resourceType + ": " + records);
          if (!records.contains("kube-mtls-canary")) {
            super.reportTracedLeak(resourceType, records);
          }
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
          LEAKS.add(resourceType + " (untraced)");
          super.reportUntracedLeak(resourceType);
        }
      };
    }
  }
}
