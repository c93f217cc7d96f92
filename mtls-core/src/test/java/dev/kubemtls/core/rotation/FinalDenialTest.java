package dev.kubemtls.core.rotation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.names.DenialReasons;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A first issuance denied for a reason no retry can change ends at once, with the reason in one
 * line, instead of leaving a denied request behind per retry until a startup timeout; everything
 * else keeps retrying.
 */
class FinalDenialTest {

  private static final Instant T0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final TestCa CA = TestCa.create("ca-one", T0.minus(Duration.ofDays(1)), Duration.ofDays(3650));

  private final MutableClock clock = new MutableClock(T0);
  private final FakeScheduler scheduler = new FakeScheduler(clock);
  private final ScriptedIssuer issuer = new ScriptedIssuer(clock, CA);
  private final List<String> events = new ArrayList<>();
  private CertificateManager manager;

  private CertificateManager manager(Set<String> finalReasons) {
    manager = CertificateManager.builder().issuer(issuer)
        .trust(new TrustPublisher(new TrustBundle(List.of(CA.certificate()), "test@1")))
        .clock(clock).scheduler(scheduler).jitter(() -> 0.5).finalDenialReasons(finalReasons)
        .listener(new ManagerListener() {
          @Override
          public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
            events.add("denied:" + denial.reason() + "@" + nextAttempt);
          }

          @Override
          public void gaveUp(CertificateDeniedException denial, int attempt) {
            events.add("gaveUp:" + denial.reason() + ":" + attempt);
          }

          @Override
          public void ready(MtlsMaterial material) {
            events.add("ready:" + material.generation());
          }
        }).build();
    return manager;
  }

  @AfterEach
  void close() {
    if (manager != null) {
      manager.close();
    }
  }

  @Test
  void aFirstIssuanceDeniedForAFinalReasonEndsAtOnceWithTheDenial() throws Exception {
    issuer.otherwise(ScriptedIssuer.deny(DenialReasons.POD_BINDING_REQUIRED));
    CertificateManager m = manager(DenialReasons.FINAL);
    CompletableFuture<MtlsMaterial> ready = m.start();
    scheduler.runDue();

    // No waiting for a timeout: the denial is the answer, in one line.
    assertThatThrownBy(() -> m.awaitReady(Duration.ofDays(1))).isInstanceOf(CertificateDeniedException.class)
        .hasMessage("CertificateSigningRequest csr-1 was denied: PodBindingRequired: not allowed");
    assertThatThrownBy(() -> ready.get(0, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
        .hasCauseInstanceOf(CertificateDeniedException.class);
    assertThat(events).containsExactly("gaveUp:PodBindingRequired:1");
    // No further attempt, however long the process lives.
    scheduler.advanceTo(T0.plus(Duration.ofHours(2)));
    assertThat(issuer.generations()).containsExactly(1L);
    CertificateManager.Status status = m.status();
    assertThat(status.state()).isEqualTo(CertificateManager.State.STARTING);
    assertThat(status.nextAttempt()).isEmpty();
    assertThat(status.lastError()).get().isInstanceOf(CertificateDeniedException.class);
  }

  @Test
  void aDenialThatMayChangeIsRetried() throws Exception {
    issuer.then(ScriptedIssuer.deny(DenialReasons.UNAUTHORIZED_DNS_NAME)).then(issuer.issue(Duration.ofHours(1)));
    CertificateManager m = manager(DenialReasons.FINAL);
    m.start();
    scheduler.runDue();
    // Nothing served yet: the retry comes within the failure backoff (2 s, equal jitter at 0.5).
    assertThat(events).containsExactly("denied:UnauthorizedDnsName@" + T0.plus(Duration.ofMillis(1500)));
    scheduler.advanceTo(T0.plus(Duration.ofSeconds(2)));
    assertThat(m.awaitReady(Duration.ZERO).generation()).isEqualTo(1);
    assertThat(issuer.generations()).containsExactly(1L, 1L);
  }

  @Test
  void withoutFinalReasonsEveryDenialIsRetried() {
    issuer.otherwise(ScriptedIssuer.deny(DenialReasons.POD_BINDING_REQUIRED));
    CertificateManager m = manager(Set.of());
    m.start();
    scheduler.runDue();
    scheduler.advanceTo(T0.plus(Duration.ofSeconds(10)));
    assertThat(issuer.generations()).hasSizeGreaterThan(2);
    assertThat(events).allMatch(e -> e.startsWith("denied:PodBindingRequired@"));
    assertThat(m.status().nextAttempt()).isPresent();
  }

  @Test
  void aRenewalDeniedForAFinalReasonKeepsRetryingWhileTheCertificateServes() {
    issuer.then(issuer.issue(Duration.ofHours(1))).otherwise(ScriptedIssuer.deny(DenialReasons.KEY_NOT_ALLOWED));
    CertificateManager m = manager(DenialReasons.FINAL);
    m.start();
    scheduler.runDue();
    Instant renewal = T0.plus(Duration.ofMinutes(48));
    scheduler.advanceTo(renewal);
    Instant retry = renewal.plus(Duration.ofSeconds(225)); // the denial backoff, 5 min at 0.5
    assertThat(events).containsExactly("ready:1", "denied:KeyNotAllowed@" + retry);
    scheduler.advanceTo(retry);
    assertThat(issuer.generations()).containsExactly(1L, 2L, 2L);
    assertThat(m.isReady()).isTrue();
  }

  @Test
  void everyReasonIsEitherFinalOrMayChange() {
    assertThat(DenialReasons.FINAL).doesNotContainAnyElementsOf(DenialReasons.MAY_CHANGE)
        .contains(DenialReasons.POD_BINDING_REQUIRED, DenialReasons.SPIFFE_ID_MISMATCH);
  }
}
