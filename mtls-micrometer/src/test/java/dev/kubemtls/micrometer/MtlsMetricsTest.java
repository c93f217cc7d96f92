package dev.kubemtls.micrometer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The meters follow a real {@link CertificateManager} driven by an injected clock: a failed first
 * attempt, the issuance that follows, the passage of time, and a renewal. Handshake and renewal
 * outcomes land in counters whose tags come from small fixed sets.
 */
class MtlsMetricsTest {

  private static final TestCa CA = TestCa.create("metrics-test-ca");
  private static final Duration LIFETIME = Duration.ofHours(1);

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final MutableClock clock = new MutableClock(Instant.parse("2030-01-01T00:00:00Z"));
  private final ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1);

  @AfterEach
  void stop() {
    scheduler.shutdownNow();
  }

  private TlsIdentity identity(long generation) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(CA.leaf(kp.getPublic()).spiffe("shop", "web")
        .validity(clock.instant().minusSeconds(60), LIFETIME.plusSeconds(60)).build()), generation);
  }

  private double gauge(String name) {
    return registry.get(name).gauge().value();
  }

  private double count(String name, String... tags) {
    return registry.get(name).tags(tags).counter().count();
  }

  @Test
  void metersFollowTheManagerThroughAFailureAnIssuanceTimeAndARenewal() throws Exception {
    MtlsMetrics metrics = MtlsMetrics.builder(registry).clock(clock).build();
    AtomicInteger calls = new AtomicInteger();
    TrustBundle bundle = new TrustBundle(List.of(CA.certificate()), "test@1");
    CertificateManager manager = CertificateManager.builder()
        .issuer(generation -> {
          if (calls.incrementAndGet() == 1) {
            throw new MtlsException("the API server cannot be reached");
          }
          return identity(generation);
        })
        .trust(TrustSource.fixed(bundle)).clock(clock).scheduler(scheduler).jitter(() -> 0.5)
        .listener(metrics.managerListener()).build();
    metrics.bind(manager);
    BlockingQueue<MtlsMaterial> published = new ArrayBlockingQueue<>(10);
    manager.subscribe(published::add);

    assertThat(gauge("kubemtls.certificate.expiry")).as("before the first certificate").isNaN();
    assertThat(gauge("kubemtls.certificate.ready")).isZero();
    manager.start();
    MtlsMaterial first = manager.awaitReady(Duration.ofSeconds(30));
    // The manager tells its listener from a serial queue, after the snapshot is current.
    await().atMost(Duration.ofSeconds(30)).until(() -> count("kubemtls.certificate.renewals", "outcome", "issued") == 1);

    assertThat(count("kubemtls.certificate.renewals", "outcome", "error")).isEqualTo(1);
    assertThat(count("kubemtls.certificate.renewals", "outcome", "issued")).isEqualTo(1);
    assertThat(registry.get("kubemtls.certificate.issuance").timer().count()).isEqualTo(1);
    assertThat(gauge("kubemtls.certificate.ready")).isEqualTo(1);
    assertThat(gauge("kubemtls.trust.anchors")).isEqualTo(1);
    assertThat(gauge("kubemtls.certificate.not.after"))
        .isEqualTo(first.identity().notAfter().getEpochSecond(), org.assertj.core.data.Offset.offset(0.001));
    double expiry = gauge("kubemtls.certificate.expiry");
    assertThat(expiry).isEqualTo(Duration.between(clock.instant(), first.identity().notAfter()).toSeconds(),
        org.assertj.core.data.Offset.offset(0.001));
    // The planned renewal (minutes away), not the retry after the failure (seconds away).
    await().atMost(Duration.ofSeconds(30)).until(() -> gauge("kubemtls.certificate.renewal") > 600);
    double renewal = gauge("kubemtls.certificate.renewal");
    assertThat(renewal).as("renewal planned inside the certificate's life").isPositive().isLessThan(expiry);

    // Time passes: the gauges count down with the manager's clock.
    clock.advance(Duration.ofMinutes(10));
    assertThat(gauge("kubemtls.certificate.expiry")).isEqualTo(expiry - 600, org.assertj.core.data.Offset.offset(0.001));
    assertThat(gauge("kubemtls.certificate.renewal")).isEqualTo(renewal - 600, org.assertj.core.data.Offset.offset(0.001));

    // Past the renewal point the manager renews, and time to expiry moves back up.
    clock.advance(Duration.ofSeconds((long) renewal - 600 + 1));
    MtlsMaterial renewed;
    do {
      renewed = published.poll(30, TimeUnit.SECONDS);
      assertThat(renewed).as("a renewal").isNotNull();
    } while (renewed.identity().generation() <= first.identity().generation());
    await().atMost(Duration.ofSeconds(30)).until(() -> count("kubemtls.certificate.renewals", "outcome", "issued") == 2);
    assertThat(gauge("kubemtls.certificate.expiry")).isGreaterThan(expiry - 600);
    manager.close();
  }

  @Test
  void everyFailedAttemptCountsUnderItsOwnBoundedOutcome() {
    MtlsMetrics metrics = MtlsMetrics.builder(registry).build();
    ManagerListener listener = metrics.managerListener();
    Instant next = Instant.parse("2030-01-01T00:00:10Z");
    listener.denied(new CertificateDeniedException("csr-1", "DNSNameNotOwned", "no"), 1, next);
    listener.renewalFailed(new IssuanceTimeoutException("csr-2", "kube-mtls.dev/workload",
        IssuanceTimeoutException.Stage.APPROVAL, Duration.ofMinutes(5)), 2, next);
    listener.renewalFailed(new CertificateFailedException("csr-3", "SignerFailed", "bad"), 3, next);
    listener.renewalFailed(new InvalidMaterialException("wrong key"), 4, next);
    listener.renewalFailed(new IllegalStateException("bug"), 5, next);
    listener.trustRejected(new InvalidMaterialException("not a CA"));
    listener.expired(identity(1));

    for (String outcome : List.of("denied", "timed_out", "failed", "invalid_material", "error")) {
      assertThat(count("kubemtls.certificate.renewals", "outcome", outcome)).as(outcome).isEqualTo(1);
    }
    assertThat(count("kubemtls.certificate.renewals", "outcome", "issued")).isZero();
    assertThat(count("kubemtls.trust.changes", "outcome", "rejected")).isEqualTo(1);
    assertThat(count("kubemtls.certificate.expirations")).isEqualTo(1);
  }

  @Test
  void handshakesCountBySideOutcomeAndFailureClassAndPassEventsOn() {
    AtomicInteger forwarded = new AtomicInteger();
    MtlsMetrics metrics = MtlsMetrics.builder(registry).tags(Tags.of("identity", "web")).build();
    TlsListener listener = metrics.tlsListener(new TlsListener() {
      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        forwarded.incrementAndGet();
      }
    });
    Optional<PeerIdentity> peer = Optional.empty();
    listener.handshakeSucceeded(Side.SERVER, peer, "TLSv1.3", "TLS_AES_128_GCM_SHA256", Duration.ofMillis(3));
    listener.handshakeSucceeded(Side.SERVER, peer, "TLSv1.3", "TLS_AES_128_GCM_SHA256", Duration.ofMillis(4));
    listener.handshakeFailed(Side.SERVER, HandshakeFailure.UNTRUSTED_PEER, new Exception("CN=intruder"),
        Duration.ofMillis(2));
    listener.handshakeFailed(Side.CLIENT, HandshakeFailure.HOSTNAME_MISMATCH, new Exception("x"), Duration.ofMillis(1));
    listener.requestRefused(HandshakeFailure.PEER_NOT_ALLOWED, peer, "spiffe://cluster.local/ns/x/sa/y");

    assertThat(count("kubemtls.tls.handshakes", "side", "server", "outcome", "succeeded", "failure", "none"))
        .isEqualTo(2);
    assertThat(count("kubemtls.tls.handshakes", "side", "server", "outcome", "failed", "failure", "untrusted_peer"))
        .isEqualTo(1);
    assertThat(count("kubemtls.tls.handshakes", "side", "client", "outcome", "failed", "failure", "hostname_mismatch"))
        .isEqualTo(1);
    assertThat(registry.get("kubemtls.tls.handshake.duration").tags("side", "server", "outcome", "succeeded")
        .timer().totalTime(TimeUnit.MILLISECONDS)).isEqualTo(7);
    assertThat(count("kubemtls.tls.requests.refused", "failure", "peer_not_allowed")).isEqualTo(1);
    assertThat(forwarded).hasValue(2);

    // Every meter exists from the start, and tag values come from fixed sets only.
    Set<String> allowed = Set.of("identity=web", "side=server", "side=client", "outcome=succeeded", "outcome=failed",
        "outcome=issued", "outcome=denied", "outcome=timed_out", "outcome=invalid_material", "outcome=error",
        "outcome=accepted", "outcome=rejected", "failure=none");
    Set<String> failureTags = java.util.Arrays.stream(HandshakeFailure.values())
        .map(f -> "failure=" + f.name().toLowerCase(java.util.Locale.ROOT)).collect(Collectors.toSet());
    for (Meter meter : registry.getMeters()) {
      for (Tag tag : meter.getId().getTags()) {
        String t = tag.getKey() + "=" + tag.getValue();
        assertThat(allowed.contains(t) || failureTags.contains(t) || t.equals("outcome=failed"))
            .as(meter.getId().getName() + " tag " + t).isTrue();
      }
    }
    long handshakeSeries = registry.find("kubemtls.tls.handshakes").counters().size();
    assertThat(handshakeSeries).as("2 sides x (1 success + every failure class)")
        .isEqualTo(2L * (1 + HandshakeFailure.values().length));
  }

  @Test
  void aSecondBindIsRefused() {
    MtlsMetrics metrics = MtlsMetrics.builder(registry).build();
    metrics.bind(new MaterialPublisher());
    assertThatThrownBy(() -> metrics.bind(new MaterialPublisher())).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("own tags");
  }
}
