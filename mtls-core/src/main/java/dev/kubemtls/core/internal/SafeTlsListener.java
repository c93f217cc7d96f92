package dev.kubemtls.core.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wraps an application's {@link TlsListener} so that nothing it throws reaches the connection that
 * reported the event. A failure is logged at WARN with its stack trace at most once a minute per
 * wrapper (each builder wraps the listener it is given once); the failures in between are counted
 * and the count goes into the next log line.
 */
public final class SafeTlsListener implements TlsListener {

  private static final Logger LOG = LoggerFactory.getLogger(SafeTlsListener.class);
  private static final long LOG_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final TlsListener delegate;
  private final LongSupplier nanoTime;
  private final AtomicLong nextLogAt;
  private final AtomicLong suppressed = new AtomicLong();
  private final AtomicLong logged = new AtomicLong();

  SafeTlsListener(TlsListener delegate, LongSupplier nanoTime) {
    this.delegate = delegate;
    this.nanoTime = nanoTime;
    this.nextLogAt = new AtomicLong(nanoTime.getAsLong());
  }

  /**
   * {@code listener} made safe to call from an I/O thread; {@link TlsListener#NO_OP} stays itself,
   * so integrations can skip all handshake bookkeeping with an identity check against it.
   */
  public static TlsListener wrap(TlsListener listener) {
    Objects.requireNonNull(listener, "listener");
    if (listener == TlsListener.NO_OP || listener instanceof SafeTlsListener) {
      return listener;
    }
    // A monotonic clock for a log rate limit only; no decision about material depends on it.
    return new SafeTlsListener(listener, System::nanoTime);
  }

  @Override
  public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol,
      String cipherSuite, Duration took) {
    try {
      delegate.handshakeSucceeded(side, peer, protocol, cipherSuite, took);
    } catch (Exception e) {
      failed("handshakeSucceeded", e);
    }
  }

  @Override
  public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
    try {
      delegate.handshakeFailed(side, reason, cause, took);
    } catch (Exception e) {
      failed("handshakeFailed", e);
    }
  }

  @Override
  public void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {
    try {
      delegate.requestRefused(reason, peer, detail);
    } catch (Exception e) {
      failed("requestRefused", e);
    }
  }

  /** How many failures have been logged (not counting those folded into a later line). */
  long loggedFailures() {
    return logged.get();
  }

  private void failed(String method, Exception e) {
    long now = nanoTime.getAsLong();
    long due = nextLogAt.get();
    if (now - due >= 0 && nextLogAt.compareAndSet(due, now + LOG_INTERVAL_NANOS)) {
      long skipped = suppressed.getAndSet(0);
      logged.incrementAndGet();
      LOG.warn("kube-mtls: TLS listener {} threw from {}; ignored ({} more failures ignored since the"
          + " last report, at most one is logged a minute)", delegate, method, skipped, e);
    } else {
      suppressed.incrementAndGet();
    }
  }

  @Override
  public String toString() {
    return "SafeTlsListener[" + delegate + "]";
  }
}
