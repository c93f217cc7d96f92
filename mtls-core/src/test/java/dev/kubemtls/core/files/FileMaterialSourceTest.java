package dev.kubemtls.core.files;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.core.testing.ProjectedVolume;
import dev.kubemtls.testkit.TestCa;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FileMaterialSource} on files laid out and swapped exactly as the kubelet's atomic writer
 * does for a {@code podCertificate} projected volume ({@link ProjectedVolume}): no kubelet runs in
 * these tests, the layout is reproduced. Validity is judged by an injected clock; the reads run on
 * a real scheduler every 20 ms, and the tests wait for published snapshots or reported problems.
 */
class FileMaterialSourceTest {

  private static final TestCa CA = TestCa.create("pod-certificate-ca");
  private static final TestCa OTHER_CA = TestCa.create("some-other-ca");
  private static final Duration POLL = Duration.ofMillis(20);

  @TempDir
  Path dir;

  private final MutableClock clock = new MutableClock(Instant.now());
  private final ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
  private final TrustPublisher trust = new TrustPublisher(new TrustBundle(List.of(CA.certificate()), "test@1"));
  private final BlockingQueue<MtlsMaterial> published = new LinkedBlockingQueue<>();
  /** What the source reported as refused content ({@code renewalFailed}) or rejected trust, in order. */
  private final List<Exception> problems = new CopyOnWriteArrayList<>();
  private final ManagerListener reporting = new ManagerListener() {
    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      problems.add(error);
    }

    @Override
    public void trustRejected(MtlsException problem) {
      problems.add(problem);
    }
  };
  private final List<FileMaterialSource> sources = new ArrayList<>();

  @AfterEach
  void stop() {
    sources.forEach(FileMaterialSource::close);
    scheduler.shutdownNow();
  }

  /** A key and the chain for it, as PEM: what the kubelet writes. */
  private record Credential(String keyPem, String chainPem, X509Certificate leaf) {
    String bundle() {
      return keyPem + chainPem;
    }
  }

  private Credential credential(TestCa ca, Instant notBefore, Duration validity) {
    KeyPair kp = TestCa.newKeyPair();
    X509Certificate leaf = ca.leaf(kp.getPublic()).spiffe("shop", "web").validity(notBefore, validity).build();
    return new Credential(TestCa.toPem(kp.getPrivate()), TestCa.toPem(leaf), leaf);
  }

  private Credential credential() {
    return credential(CA, clock.instant().minusSeconds(60), Duration.ofHours(1));
  }

  private FileMaterialSource start(FileMaterialSource.Builder builder) {
    FileMaterialSource source = builder.trust(trust).clock(clock).scheduler(scheduler).pollInterval(POLL)
        .listener(reporting).build();
    sources.add(source);
    source.subscribe(published::add);
    source.start();
    return source;
  }

  private MtlsMaterial next() throws InterruptedException {
    MtlsMaterial m = published.poll(20, TimeUnit.SECONDS);
    assertThat(m).as("a published snapshot").isNotNull();
    return m;
  }

  private static BigInteger serial(MtlsMaterial m) {
    return m.identity().leaf().getSerialNumber();
  }

  @Test
  void followsTheKubeletsCredentialBundleThroughThreeRenewals() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    Credential first = credential();
    volume.write(Map.of("credentialbundle.pem", first.bundle()));
    FileMaterialSource source = start(FileMaterialSource.forCredentialBundle(volume.file("credentialbundle.pem")));

    MtlsMaterial m = next();
    assertThat(m.identity().leaf()).isEqualTo(first.leaf());
    assertThat(source.isReady()).isTrue();
    for (int i = 0; i < 3; i++) {
      Credential renewed = credential();
      volume.write(Map.of("credentialbundle.pem", renewed.bundle()));
      MtlsMaterial after = next();
      assertThat(after.identity().leaf()).as("renewal " + (i + 1)).isEqualTo(renewed.leaf());
      assertThat(after.generation()).isGreaterThan(m.generation());
      assertThat(after.identity().generation()).isGreaterThan(m.identity().generation());
      after.validate();
      m = after;
    }
    assertThat(problems).isEmpty();
  }

  @Test
  void readsSeparateKeyAndChainFilesFromOneVersionOfTheVolume() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    Credential first = credential();
    volume.write(Map.of("tls.key", first.keyPem(), "tls.crt", first.chainPem()));
    start(FileMaterialSource.forKeyAndChain(volume.file("tls.key"), volume.file("tls.crt")));
    assertThat(next().identity().leaf()).isEqualTo(first.leaf());

    // Many swaps in a row while the source polls: whatever it publishes is a matching pair.
    List<X509Certificate> written = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      Credential c = credential();
      written.add(c.leaf());
      volume.write(Map.of("tls.key", c.keyPem(), "tls.crt", c.chainPem()));
    }
    X509Certificate last = written.get(written.size() - 1);
    MtlsMaterial m;
    do {
      m = next();
      m.validate(); // key and leaf belong together: never the key of one version with the chain of another
      assertThat(written).contains(m.identity().leaf());
    } while (!m.identity().leaf().equals(last));
    assertThat(problems).as("a consistent volume never looks broken").isEmpty();
  }

  @Test
  void aHalfWrittenPairIsNeverPublishedAndIsTakenOnceComplete() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    Credential first = credential();
    volume.write(Map.of("tls.key", first.keyPem(), "tls.crt", first.chainPem()));
    FileMaterialSource source = start(FileMaterialSource.forKeyAndChain(volume.file("tls.key"), volume.file("tls.crt")));
    MtlsMaterial m = next();

    // A writer that is not atomic: the new key lands before the new chain.
    Credential renewed = credential();
    volume.overwriteInPlace("tls.key", renewed.keyPem());
    await().atMost(Duration.ofSeconds(20)).until(() -> !problems.isEmpty());
    assertThat(problems.get(0)).hasMessageContaining("does not belong to the leaf certificate");
    assertThat(source.current()).as("the working pair stays").isSameAs(m);
    assertThat(published).isEmpty();

    volume.overwriteInPlace("tls.crt", renewed.chainPem());
    assertThat(next().identity().leaf()).isEqualTo(renewed.leaf());
  }

  @Test
  void garbageExpiredAndForeignCertificatesNeverReplaceWorkingMaterial() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    Credential good = credential();
    volume.write(Map.of("credentialbundle.pem", good.bundle()));
    FileMaterialSource source = start(FileMaterialSource.forCredentialBundle(volume.file("credentialbundle.pem")));
    MtlsMaterial m = next();

    volume.write(Map.of("credentialbundle.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"));
    await().atMost(Duration.ofSeconds(20)).until(() -> problems.size() == 1);
    assertThat(problems.get(0)).hasMessageContaining("base64");

    Credential expired = credential(CA, clock.instant().minus(Duration.ofHours(2)), Duration.ofHours(1));
    volume.write(Map.of("credentialbundle.pem", expired.bundle()));
    await().atMost(Duration.ofSeconds(20)).until(() -> problems.size() == 2);
    assertThat(problems.get(1)).hasMessageContaining("expired");

    Credential foreign = credential(OTHER_CA, clock.instant().minusSeconds(60), Duration.ofHours(1));
    volume.write(Map.of("credentialbundle.pem", foreign.bundle()));
    await().atMost(Duration.ofSeconds(20)).until(() -> problems.size() == 3);
    assertThat(problems.get(2)).hasMessageContaining("does not chain");

    assertThat(published).as("nothing unusable was published").isEmpty();
    assertThat(source.current()).isSameAs(m);
    assertThat(source.lastError()).isPresent();

    Credential renewed = credential();
    volume.write(Map.of("credentialbundle.pem", renewed.bundle()));
    assertThat(next().identity().leaf()).isEqualTo(renewed.leaf());
    assertThat(source.lastError()).isEmpty();
  }

  @Test
  void aTrustChangeIsPublishedOnlyWhileTheIdentityStillChainsToIt() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    volume.write(Map.of("credentialbundle.pem", credential().bundle()));
    FileMaterialSource source = start(FileMaterialSource.forCredentialBundle(volume.file("credentialbundle.pem")));
    MtlsMaterial m = next();

    // A CA rotation with overlap: both CAs, then the kubelet renews onto the new CA, then only the new one.
    trust.publish(new TrustBundle(List.of(CA.certificate(), OTHER_CA.certificate()), "test@2"));
    MtlsMaterial overlap = next();
    assertThat(overlap.identity()).isSameAs(m.identity());
    assertThat(overlap.trust().certificates()).hasSize(2);

    TrustBundle onlyNew = new TrustBundle(List.of(OTHER_CA.certificate()), "test@3");
    trust.publish(onlyNew);
    await().atMost(Duration.ofSeconds(20)).until(() -> !problems.isEmpty());
    assertThat(problems.get(0)).hasMessageContaining("does not chain");
    assertThat(source.current()).as("the current certificate does not chain to the new bundle: kept").isSameAs(overlap);

    Credential renewed = credential(OTHER_CA, clock.instant().minusSeconds(60), Duration.ofHours(1));
    volume.write(Map.of("credentialbundle.pem", renewed.bundle()));
    MtlsMaterial after = next();
    assertThat(after.identity().leaf()).isEqualTo(renewed.leaf());
    assertThat(after.trust()).isEqualTo(onlyNew);
  }

  @Test
  void aMissingFileIsReportedOnceAndPublishedWhenItAppears() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    FileMaterialSource source = start(FileMaterialSource.forCredentialBundle(volume.file("credentialbundle.pem")));
    await().atMost(Duration.ofSeconds(20)).until(() -> !problems.isEmpty());
    assertThat(problems.get(0)).hasMessageContaining("does not exist");
    assertThat(source.currentIfReady()).isEmpty();
    assertThat(source.isReady()).isFalse();

    Credential c = credential();
    volume.write(Map.of("credentialbundle.pem", c.bundle()));
    assertThat(next().identity().leaf()).isEqualTo(c.leaf());
    assertThat(problems).as("reported once, not at every poll").hasSize(1);
    assertThat(Files.isSymbolicLink(volume.file("credentialbundle.pem"))).isTrue();
  }

  @Test
  void readinessFollowsTheInjectedClock() throws Exception {
    ProjectedVolume volume = new ProjectedVolume(dir);
    volume.write(Map.of("credentialbundle.pem", credential().bundle()));
    FileMaterialSource source = start(FileMaterialSource.forCredentialBundle(volume.file("credentialbundle.pem")));
    TlsIdentity id = next().identity();
    assertThat(source.isReady()).isTrue();
    clock.set(id.notAfter());
    assertThat(source.isReady()).as("expired by the clock, no renewal written").isFalse();
    assertThat(source.timeToExpiry()).hasValue(Duration.ZERO);
  }
}
