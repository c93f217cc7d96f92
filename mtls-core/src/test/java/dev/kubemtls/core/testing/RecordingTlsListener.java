package dev.kubemtls.core.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A {@link TlsListener} for the integration tests: keeps every event in order and lets a test wait
 * for the next one. Shipped in mtls-core's test jar for the Netty and servlet tests.
 */
public final class RecordingTlsListener implements TlsListener {

  /** How long {@link #next()} waits. */
  public static final Duration TIMEOUT = Duration.ofSeconds(10);

  /** What happened. */
  public enum Outcome { SUCCEEDED, FAILED, REFUSED }

  /**
   * One call. {@code reason} and {@code cause} are null for a success; {@code protocol} and
   * {@code cipherSuite} are null otherwise; a refused request has no {@code side} and no
   * {@code took}, and its {@code cause} carries the detail as its message. {@code heardAfter} is the
   * time from the listener's creation to this call: the handshake started after the listener was
   * given to its server or client, so no {@code took} can be longer.
   */
  public record Event(Outcome outcome, Side side, HandshakeFailure reason, Optional<PeerIdentity> peer,
      String protocol, String cipherSuite, Throwable cause, Duration took, Duration heardAfter) {

    /**
     * Asserts a succeeded handshake on {@code side} over {@code protocol} that took some time, no
     * longer than the listener existed (a duration measured by the reporting side, not a speed goal);
     * returns the peer's SPIFFE ID, if any.
     */
    public Optional<String> assertSucceeded(Side side, String protocol) {
      assertThat(outcome).as("outcome of %s", this).isEqualTo(Outcome.SUCCEEDED);
      assertThat(this.side).isEqualTo(side);
      assertThat(this.protocol).isEqualTo(protocol);
      assertThat(cipherSuite).startsWith("TLS_");
      assertThat(took).isPositive().isLessThanOrEqualTo(heardAfter);
      assertThat(reason).isNull();
      return peer.flatMap(PeerIdentity::spiffeId);
    }

    /** Asserts a failed handshake on {@code side} of class {@code reason}. */
    public Event assertFailed(Side side, HandshakeFailure reason) {
      assertThat(outcome).as("outcome of %s", this).isEqualTo(Outcome.FAILED);
      assertThat(this.side).isEqualTo(side);
      assertThat(this.reason).as("class of %s", cause).isEqualTo(reason);
      assertThat(cause).isNotNull();
      assertThat(took).isGreaterThanOrEqualTo(Duration.ZERO).isLessThanOrEqualTo(heardAfter);
      return this;
    }
  }

  private final long created = System.nanoTime();
  private final BlockingQueue<Event> pending = new LinkedBlockingQueue<>();
  private final List<Event> all = new CopyOnWriteArrayList<>();

  @Override
  public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol,
      String cipherSuite, Duration took) {
    add(new Event(Outcome.SUCCEEDED, side, null, peer, protocol, cipherSuite, null, took, sinceCreated()));
  }

  @Override
  public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
    add(new Event(Outcome.FAILED, side, reason, Optional.empty(), null, null, cause, took, sinceCreated()));
  }

  @Override
  public void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {
    add(new Event(Outcome.REFUSED, null, reason, peer, null, null, new Exception(detail), null, sinceCreated()));
  }

  private Duration sinceCreated() {
    return Duration.ofNanos(System.nanoTime() - created);
  }

  private void add(Event event) {
    all.add(event);
    pending.add(event);
  }

  /**
   * The next event not returned yet, waiting up to {@link #TIMEOUT}.
   *
   * @throws AssertionError if none came
   */
  public Event next() throws InterruptedException {
    Event e = pending.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    if (e == null) {
      throw new AssertionError("the listener heard nothing within " + TIMEOUT + "; so far: " + all);
    }
    return e;
  }

  /** Every event so far, in order. */
  public List<Event> all() {
    return List.copyOf(all);
  }
}
