package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class SafeTlsListenerTest {

  /** Records each call, and throws from every call while {@code throwing} is set. */
  private static final class Recording implements TlsListener {
    final List<String> calls = new CopyOnWriteArrayList<>();
    volatile boolean throwing = true;

    @Override
    public void handshakeSucceeded(Side side, Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
        String protocol, String cipherSuite, Duration took) {
      record("succeeded " + side + " " + protocol);
    }

    @Override
    public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
      record("failed " + side + " " + reason);
    }

    @Override
    public void requestRefused(HandshakeFailure reason, Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
        String detail) {
      record("refused " + reason);
    }

    private void record(String call) {
      calls.add(call);
      if (throwing) {
        throw new IllegalStateException("listener bug");
      }
    }
  }

  @Test
  void noOpAndWrappedListenersAreNotWrappedAgain() {
    assertThat(SafeTlsListener.wrap(TlsListener.NO_OP)).isSameAs(TlsListener.NO_OP);
    TlsListener once = SafeTlsListener.wrap(new Recording());
    assertThat(once).isInstanceOf(SafeTlsListener.class);
    assertThat(SafeTlsListener.wrap(once)).isSameAs(once);
    assertThatThrownBy(() -> SafeTlsListener.wrap(null)).isInstanceOf(NullPointerException.class)
        .hasMessage("listener");
  }

  @Test
  void exceptionsAreSwallowedAndLoggedAtMostOnceAMinute() {
    AtomicLong now = new AtomicLong(1_000);
    Recording delegate = new Recording();
    SafeTlsListener safe = new SafeTlsListener(delegate, now::get);

    assertThatCode(() -> {
      safe.handshakeSucceeded(Side.SERVER, Optional.empty(), "TLSv1.3", "TLS_AES_128_GCM_SHA256", Duration.ZERO);
      safe.handshakeFailed(Side.CLIENT, HandshakeFailure.PROTOCOL, new Exception("x"), Duration.ZERO);
      safe.requestRefused(HandshakeFailure.PEER_NOT_ALLOWED, Optional.empty(), "no");
    }).doesNotThrowAnyException();
    assertThat(delegate.calls).containsExactly("succeeded SERVER TLSv1.3", "failed CLIENT PROTOCOL",
        "refused PEER_NOT_ALLOWED");
    assertThat(safe.loggedFailures()).isEqualTo(1);

    now.addAndGet(TimeUnit.SECONDS.toNanos(59));
    safe.requestRefused(HandshakeFailure.NO_PEER_CERTIFICATE, Optional.empty(), "none");
    assertThat(safe.loggedFailures()).isEqualTo(1);

    now.addAndGet(TimeUnit.SECONDS.toNanos(1));
    safe.requestRefused(HandshakeFailure.NO_PEER_CERTIFICATE, Optional.empty(), "none");
    assertThat(safe.loggedFailures()).isEqualTo(2);

    delegate.throwing = false;
    now.addAndGet(TimeUnit.MINUTES.toNanos(5));
    safe.requestRefused(HandshakeFailure.NO_PEER_CERTIFICATE, Optional.empty(), "none");
    assertThat(safe.loggedFailures()).isEqualTo(2);
    assertThat(delegate.calls).hasSize(6);
  }
}
