package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.awaitility.Awaitility;

/** Steps of the server connection-bound tests. */
final class ConnectionBounds {

  private ConnectionBounds() {}

  /** An allowed caller (shop/frontend, from the app's first CA) whose certificate expires 6 s from now. */
  static MaterialPublisher shortLivedCaller(MtlsApp app) {
    TestCa ca = app.cas.get(0);
    Instant now = Instant.now();
    return new MaterialPublisher(app.issue(ca, List.of(ca), "frontend", now.minus(Duration.ofMinutes(1)),
        Duration.ofMinutes(1).plusSeconds(6)));
  }

  /** Waits (on the condition, not a sleep) until the real time is past {@code instant}. */
  static void awaitPast(Instant instant) {
    Awaitility.await("past " + instant).atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
        .until(() -> Instant.now().isAfter(instant));
  }

  /** The application's trust bundle moves to a new CA only (its own certificate stays), and waits until Spring has it. */
  static void dropFirstCa(MtlsApp app) {
    TestCa next = TestCa.create("spring test CA " + (app.cas.size() + 1), Instant.now().minus(Duration.ofHours(1)),
        Duration.ofDays(1));
    app.cas.add(next);
    app.trust(app.server, List.of(next));
    app.awaitBundleUpdated();
  }
}
