package dev.kubemtls.core.rotation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.files.FileMaterialSource;
import dev.kubemtls.core.testing.ProjectedVolume;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The rotation loop ({@link CertificateManager}) and the file source ({@link FileMaterialSource})
 * pair identity with trust by the same rules and say so with the same {@link ManagerListener}
 * events: the same sequence of certificates and trust bundles goes through both, and the events
 * they report are compared. Only what belongs to the manager's own renewal loop differs by design:
 * {@code renewalScheduled}, and the retries it makes (each a {@code renewalFailed}) while the file
 * source waits for the kubelet. The manager runs on a fake scheduler; the file source reads a
 * {@link ProjectedVolume} on a real one, both judge validity by an injected clock.
 */
class FileSourceParityTest {

  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final TestCa CA = TestCa.create("parity-one", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TestCa OTHER_CA = TestCa.create("parity-two", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));
  private static final TrustBundle ONE = new TrustBundle(List.of(CA.certificate()), "one@1");
  private static final TrustBundle BOTH = new TrustBundle(List.of(CA.certificate(), OTHER_CA.certificate()), "both@2");
  private static final TrustBundle ONLY_OTHER = new TrustBundle(List.of(OTHER_CA.certificate()), "other@3");

  @TempDir
  Path dir;

  /** A key and its certificate, made once and handed to both sources. */
  private record Credential(PrivateKey key, X509Certificate leaf) {
    static Credential of(TestCa ca, Instant notBefore) {
      KeyPair kp = TestCa.newKeyPair();
      return new Credential(kp.getPrivate(),
          ca.leaf(kp.getPublic()).dns("svc.ns.svc").validity(notBefore, Duration.ofHours(1)).build());
    }

    TlsIdentity identity(long generation) {
      return new TlsIdentity(key, List.of(leaf), generation);
    }

    String pem() {
      return TestCa.toPem(key) + TestCa.toPem(leaf);
    }
  }

  /**
   * The steps, in order: first certificate; trust widened to both CAs; trust narrowed to a CA the
   * certificate does not chain to (held); a certificate from the new CA (published with the held
   * bundle); a certificate from the dropped CA (refused); expiry; a new certificate (recovery).
   */
  @Test
  void theFileSourceReportsWhatTheManagerReportsForTheSameSequence() throws Exception {
    Credential a = Credential.of(CA, T0.minusSeconds(60));
    Credential b = Credential.of(OTHER_CA, T0.minusSeconds(60));
    Credential foreign = Credential.of(CA, T0.minusSeconds(60));
    Instant expiry = b.leaf().getNotAfter().toInstant();
    Credential c = Credential.of(OTHER_CA, expiry.minusSeconds(60));

    List<String> byManager = manager(a, b, foreign, c, expiry);
    List<String> byFiles = files(a, b, foreign, c, expiry);

    int phaseEnd = byManager.indexOf("expired");
    assertThat(phaseEnd).as("the manager reported the expiry: " + byManager).isPositive();
    List<String> managerBefore = withoutRetries(byManager.subList(0, phaseEnd));
    assertThat(managerBefore).containsExactly("issued", "ready:1", "trustChanged:one@1->both@2", "trustRejected",
        "issued", "rotated:2->3", "trustChanged:both@2->other@3", "failed");
    int filePhaseEnd = byFiles.indexOf("expired");
    assertThat(filePhaseEnd).as("the file source reported the expiry: " + byFiles).isPositive();
    assertThat(byFiles.subList(0, filePhaseEnd)).as("up to the expiry").isEqualTo(managerBefore);

    Predicate<String> ownLoop = e -> e.startsWith("scheduled") || e.equals("failed");
    assertThat(byManager.subList(phaseEnd, byManager.size()).stream().filter(ownLoop.negate()).toList())
        .containsExactly("expired", "issued", "rotated:3->4", "recovered");
    assertThat(byFiles.subList(filePhaseEnd, byFiles.size())).as("from the expiry on")
        .containsExactly("expired", "issued", "rotated:3->4", "recovered");
  }

  /** Without {@code renewalScheduled}, and a run of failures as one (the manager's retries of its own loop). */
  private static List<String> withoutRetries(List<String> events) {
    List<String> out = new java.util.ArrayList<>();
    for (String e : events) {
      if (!e.startsWith("scheduled") && !(e.equals("failed") && !out.isEmpty() && out.get(out.size() - 1).equals("failed"))) {
        out.add(e);
      }
    }
    return out;
  }

  private List<String> manager(Credential a, Credential b, Credential foreign, Credential c, Instant expiry) {
    MutableClock clock = new MutableClock(T0);
    FakeScheduler scheduler = new FakeScheduler(clock);
    TrustPublisher trust = new TrustPublisher(ONE);
    Deque<Credential> script = new ArrayDeque<>();
    IdentityIssuer issuer = generation -> {
      Credential next;
      synchronized (script) {
        next = script.poll();
      }
      if (next == null) {
        throw new MtlsException("no certificate for generation " + generation + " yet");
      }
      return next.identity(generation);
    };
    Recorder events = new Recorder();
    try (CertificateManager manager = CertificateManager.builder().issuer(issuer).trust(trust).clock(clock)
        .scheduler(scheduler).jitter(() -> 0.5).listener(events).build()) {
      Consumer<Credential> issueNext = cred -> {
        synchronized (script) {
          script.add(cred);
        }
        scheduler.advanceTo(manager.status().nextAttempt().orElseThrow());
      };
      manager.start();
      script.add(a);
      scheduler.runDue();
      trust.publish(BOTH);
      scheduler.runDue();
      trust.publish(ONLY_OTHER);
      scheduler.runDue();
      issueNext.accept(b);
      issueNext.accept(foreign);
      scheduler.advanceTo(expiry);
      scheduler.runDue();
      issueNext.accept(c);
      scheduler.runDue();
    }
    return List.copyOf(events.list);
  }

  private List<String> files(Credential a, Credential b, Credential foreign, Credential c, Instant expiry) {
    MutableClock clock = new MutableClock(T0);
    ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);
    TrustPublisher trust = new TrustPublisher(ONE);
    ProjectedVolume volume = new ProjectedVolume(dir);
    Recorder events = new Recorder();
    String name = "credentialbundle.pem";
    try (FileMaterialSource source = FileMaterialSource.forCredentialBundle(volume.file(name)).trust(trust)
        .clock(clock).scheduler(scheduler).pollInterval(Duration.ofMillis(20)).listener(events).build()) {
      volume.write(Map.of(name, a.pem()));
      source.start();
      events.waitFor("ready:1", 1);
      trust.publish(BOTH);
      events.waitFor("trustChanged:one@1->both@2", 1);
      trust.publish(ONLY_OTHER);
      events.waitFor("trustRejected", 1);
      volume.write(Map.of(name, b.pem()));
      events.waitFor("trustChanged:both@2->other@3", 1);
      volume.write(Map.of(name, foreign.pem()));
      events.waitFor("failed", 1);
      clock.set(expiry);
      events.waitFor("expired", 1);
      volume.write(Map.of(name, c.pem()));
      events.waitFor("recovered", 1);
    } finally {
      scheduler.shutdownNow();
    }
    return List.copyOf(events.list);
  }

  /** The events, by kind; snapshot generations and bundle versions where they are the same for both. */
  static final class Recorder implements ManagerListener {
    final List<String> list = new CopyOnWriteArrayList<>();

    void waitFor(String event, long count) {
      await(event).atMost(Duration.ofSeconds(20))
          .until(() -> list.stream().filter(event::equals).count() >= count);
    }

    @Override
    public void issued(TlsIdentity identity, Duration took) {
      list.add("issued");
    }

    @Override
    public void ready(MtlsMaterial material) {
      list.add("ready:" + material.generation());
    }

    @Override
    public void rotated(MtlsMaterial previous, MtlsMaterial current) {
      list.add("rotated:" + previous.generation() + "->" + current.generation());
    }

    @Override
    public void renewalScheduled(TlsIdentity identity, Instant at) {
      list.add("scheduled");
    }

    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      list.add("failed");
    }

    @Override
    public void expired(TlsIdentity identity) {
      list.add("expired");
    }

    @Override
    public void recovered(MtlsMaterial material, Duration downtime) {
      list.add("recovered");
    }

    @Override
    public void trustChanged(TrustBundle previous, TrustBundle current) {
      list.add("trustChanged:" + previous.sourceVersion() + "->" + current.sourceVersion());
    }

    @Override
    public void trustRejected(MtlsException problem) {
      list.add("trustRejected");
    }
  }
}
