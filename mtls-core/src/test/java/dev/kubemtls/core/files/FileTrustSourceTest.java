package dev.kubemtls.core.files;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.testing.ProjectedVolume;
import dev.kubemtls.testkit.TestCa;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link FileTrustSource} on a projected bundle file swapped as the kubelet swaps it. */
class FileTrustSourceTest {

  private static final TestCa A = TestCa.create("bundle-ca-a");
  private static final TestCa B = TestCa.create("bundle-ca-b");

  @TempDir
  Path dir;

  private final ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
  private final List<TrustBundle> bundles = new CopyOnWriteArrayList<>();
  private final List<MtlsException> problems = new CopyOnWriteArrayList<>();

  @AfterEach
  void stop() {
    scheduler.shutdownNow();
  }

  @Test
  void followsTheFileAndKeepsTheLastGoodBundleThroughBadContent() {
    ProjectedVolume volume = new ProjectedVolume(dir);
    FileTrustSource source = FileTrustSource.of(volume.file("ca.crt"), InstantSource.system(), scheduler,
        Duration.ofMillis(20));
    source.subscribe(new TrustSource.Listener() {
      @Override
      public void onBundle(TrustBundle bundle) {
        bundles.add(bundle);
      }

      @Override
      public void onProblem(MtlsException problem) {
        problems.add(problem);
      }
    });
    source.start();
    await().atMost(Duration.ofSeconds(20)).until(() -> problems.size() == 1);
    assertThat(problems.get(0)).hasMessageContaining("does not exist");

    volume.write(Map.of("ca.crt", A.certificatePem()));
    await().atMost(Duration.ofSeconds(20)).until(() -> bundles.size() == 1);
    assertThat(source.current().certificates()).containsExactly(A.certificate());
    assertThat(source.current().sourceVersion()).startsWith("file " + volume.file("ca.crt") + "@sha256:");

    volume.write(Map.of("ca.crt", A.certificatePem() + B.certificatePem()));
    await().atMost(Duration.ofSeconds(20)).until(() -> bundles.size() == 2);
    assertThat(source.current().certificates()).containsExactly(A.certificate(), B.certificate());

    // A leaf certificate is not a CA: refused, and the overlap bundle stays.
    var kp = TestCa.newKeyPair();
    volume.write(Map.of("ca.crt", TestCa.toPem(A.leaf(kp.getPublic()).build())));
    await().atMost(Duration.ofSeconds(20)).until(() -> problems.size() == 2);
    assertThat(problems.get(1)).hasMessageContaining("not a CA").hasMessageContaining("keeping the previous");
    assertThat(source.current().certificates()).containsExactly(A.certificate(), B.certificate());

    volume.write(Map.of("ca.crt", B.certificatePem()));
    await().atMost(Duration.ofSeconds(20)).until(() -> source.current().certificates().equals(List.of(B.certificate())));
    source.close();
  }
}
