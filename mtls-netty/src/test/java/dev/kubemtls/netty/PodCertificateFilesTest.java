package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.files.FileMaterialSource;
import dev.kubemtls.core.files.FileTrustSource;
import dev.kubemtls.core.testing.ProjectedVolume;
import dev.kubemtls.testkit.TestCa;
import io.netty.channel.EventLoopGroup;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A Netty server fed by the kubelet's {@code podCertificate} volume: its key and chain come from a
 * {@link FileMaterialSource}, its trust from a projected bundle file ({@link FileTrustSource}).
 * Both are laid out and swapped as the kubelet's atomic writer does ({@link ProjectedVolume}); no
 * kubelet runs here. Three kubelet renewals and a CA rotation with overlap happen while clients keep
 * opening connections and a long-lived connection keeps talking: nothing fails, and new
 * connections see each new certificate.
 */
class PodCertificateFilesTest {

  private static final Duration STEP = Duration.ofSeconds(30);

  @TempDir
  Path dir;

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final List<BigInteger> seen = new CopyOnWriteArrayList<>();
  private final AtomicLong completed = new AtomicLong();
  private final AtomicLong longLivedRequests = new AtomicLong();
  private final AtomicBoolean stop = new AtomicBoolean();

  private static String bundle(TestCa ca, KeyPair kp) {
    X509Certificate leaf = ca.leaf(kp.getPublic()).spiffe("shop", "orders").dns("orders.shop.svc")
        .usages(true, true).validity(Instant.now().minusSeconds(60), Duration.ofHours(1)).build();
    return TestCa.toPem(kp.getPrivate()) + TestCa.toPem(leaf);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void kubeletRenewalsAndACaRotationFailNoRequest(TlsProvider provider) throws Exception {
    TestCa caA = TestCa.create("pod certificates CA A");
    TestCa caB = TestCa.create("pod certificates CA B");
    ProjectedVolume credentials = new ProjectedVolume(Files.createDirectory(dir.resolve("credentials")));
    ProjectedVolume bundles = new ProjectedVolume(Files.createDirectory(dir.resolve("bundles")));
    credentials.write(Map.of("credentialbundle.pem", bundle(caA, TestCa.newKeyPair())));
    bundles.write(Map.of("ca.crt", caA.certificatePem()));

    ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
    FileTrustSource trust = FileTrustSource.of(bundles.file("ca.crt"), InstantSource.system(), scheduler,
        Duration.ofMillis(20));
    FileMaterialSource serverSource = FileMaterialSource.forCredentialBundle(credentials.file("credentialbundle.pem"))
        .trust(trust).scheduler(scheduler).pollInterval(Duration.ofMillis(20)).build();
    trust.start();
    MtlsMaterial first = serverSource.start().get(STEP.toSeconds(), TimeUnit.SECONDS);
    MaterialPublisher clientSource = new MaterialPublisher(Pki.material(Pki.client(caA, 1), Pki.trust("a", caA), 1));

    EventLoopGroup group = Echo.group(2);
    ExecutorService load = Executors.newFixedThreadPool(2);
    // The long-lived echo connection here outlives every change, the CA it was made under leaving
    // included: the connection bound (on by default) is off; GracefulEndTest and
    // RotationUnderLoadTest cover it.
    try (ServerTls serverTls = NettyMtls.forServer(serverSource).provider(provider).unboundedConnections().build();
        ClientTls clientTls = NettyMtls.forClient(clientSource).provider(provider).unboundedConnections().build();
        Echo.Server server = new Echo.Server(group, serverTls)) {
      Echo.Conn longLived = Echo.Conn.open(group, clientTls, Echo.named("orders.shop.svc", server.port()));
      load.submit(() -> connections(group, clientTls, server.port()));
      load.submit(() -> Echo.talk(List.of(longLived), stop, longLivedRequests, failures));
      awaitServing(first.identity().leaf().getSerialNumber());

      for (int i = 0; i < 3; i++) {
        BigInteger before = serial(serverSource);
        credentials.write(Map.of("credentialbundle.pem", bundle(caA, TestCa.newKeyPair())));
        awaitNewServerCertificate(serverSource, before);
      }
      // CA rotation with overlap: trust A and B on both sides, move both identities to B, then trust only B.
      bundles.write(Map.of("ca.crt", caA.certificatePem() + caB.certificatePem()));
      clientSource.publish(clientSource.current().withTrust(Pki.trust("ab", caA, caB)));
      await().atMost(STEP).until(() -> serverSource.current().trust().certificates().size() == 2);
      BigInteger onA = serial(serverSource);
      credentials.write(Map.of("credentialbundle.pem", bundle(caB, TestCa.newKeyPair())));
      TlsIdentity serverOnB = awaitNewServerCertificate(serverSource, onA);
      assertThat(serverOnB.leaf().getIssuerX500Principal()).isEqualTo(caB.certificate().getSubjectX500Principal());
      MtlsMaterial c = clientSource.current();
      clientSource.publish(c.withIdentity(Pki.client(caB, c.identity().generation() + 1)));
      bundles.write(Map.of("ca.crt", caB.certificatePem()));
      clientSource.publish(clientSource.current().withTrust(Pki.trust("b", caB)));
      await().atMost(STEP).until(() -> serverSource.current().trust().certificates().size() == 1);
      awaitServing(serverOnB.leaf().getSerialNumber());

      stop.set(true);
      load.shutdown();
      assertThat(load.awaitTermination(STEP.toSeconds(), TimeUnit.SECONDS)).isTrue();
      assertThat(failures).isEmpty();
      assertThat(seen).as("the first certificate, three renewals on A, one on B").hasSize(5);
      assertThat(longLivedRequests.get()).isPositive();
      assertThat(longLived.request("still here")).as("the long-lived connection outlives every change")
          .isEqualTo("still here");
      longLived.close();
    } finally {
      stop.set(true);
      load.shutdownNow();
      serverSource.close();
      trust.close();
      scheduler.shutdownNow();
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  /** Waits until the source published a certificate it had not, and a new connection was served with it. */
  private static BigInteger serial(FileMaterialSource source) {
    return source.current().identity().leaf().getSerialNumber();
  }

  private TlsIdentity awaitNewServerCertificate(FileMaterialSource source, BigInteger before) {
    await().atMost(STEP).until(() -> !source.current().identity().leaf().getSerialNumber().equals(before));
    TlsIdentity now = source.current().identity();
    awaitServing(now.leaf().getSerialNumber());
    return now;
  }

  private void awaitServing(BigInteger serial) {
    long before = completed.get();
    await().atMost(STEP).until(() -> !failures.isEmpty() || (seen.contains(serial) && completed.get() > before + 1));
    assertThat(failures).isEmpty();
  }

  private void connections(EventLoopGroup group, ClientTls tls, int port) {
    int n = 0;
    while (!stop.get()) {
      String line = "req-" + n++;
      try (Echo.Conn conn = Echo.Conn.open(group, tls, Echo.named("orders.shop.svc", port))) {
        String echoed = conn.request(line);
        if (!line.equals(echoed)) {
          failures.add(line + ": got " + echoed + ", errors " + conn.errors);
          continue;
        }
        BigInteger serial = conn.serverLeaf().getSerialNumber();
        if (!seen.contains(serial)) {
          seen.add(serial);
        }
        completed.incrementAndGet();
      } catch (Exception e) {
        failures.add(line + ": " + e);
      }
    }
  }
}
