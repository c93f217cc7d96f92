package dev.kubemtls.core.tls;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.rotation.ManagerListener;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** {@link ManagerListener#all} and {@link TlsListener#all}: order, isolation, and the no-op shortcuts. */
class CompositeListenersTest {

  @Test
  void everyManagerListenerIsToldInOrderEvenAfterOneThrows() {
    List<String> told = new CopyOnWriteArrayList<>();
    ManagerListener first = new ManagerListener() {
      @Override
      public void renewalScheduled(TlsIdentity identity, Instant at) {
        told.add("first");
        throw new IllegalStateException("a broken listener");
      }
    };
    ManagerListener second = new ManagerListener() {
      @Override
      public void renewalScheduled(TlsIdentity identity, Instant at) {
        told.add("second");
      }
    };
    ManagerListener all = ManagerListener.all(first, ManagerListener.NO_OP, second);
    all.renewalScheduled(null, Instant.EPOCH);
    assertThat(told).containsExactly("first", "second");
  }

  @Test
  void everyTlsListenerIsToldInOrderEvenAfterOneThrows() {
    List<String> told = new CopyOnWriteArrayList<>();
    TlsListener first = new TlsListener() {
      @Override
      public void requestRefused(HandshakeFailure reason, Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
          String detail) {
        told.add("first " + reason);
        throw new IllegalStateException("a broken listener");
      }
    };
    TlsListener second = new TlsListener() {
      @Override
      public void requestRefused(HandshakeFailure reason, Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
          String detail) {
        told.add("second " + detail);
      }

      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        told.add("second failed " + side);
      }
    };
    TlsListener all = TlsListener.all(List.of(first, second));
    all.requestRefused(TlsListener.HandshakeFailure.PEER_NOT_ALLOWED, Optional.empty(), "not in the allow-list");
    all.handshakeFailed(TlsListener.Side.SERVER, TlsListener.HandshakeFailure.PROTOCOL, null, Duration.ZERO);
    assertThat(told).containsExactly("first PEER_NOT_ALLOWED", "second not in the allow-list", "second failed SERVER");
  }

  @Test
  void noListenersIsTheNoOpAndOneIsItself() {
    TlsListener one = new TlsListener() { };
    assertThat(TlsListener.all()).isSameAs(TlsListener.NO_OP);
    assertThat(TlsListener.all(TlsListener.NO_OP, TlsListener.NO_OP)).isSameAs(TlsListener.NO_OP);
    assertThat(TlsListener.all(TlsListener.NO_OP, one)).isSameAs(one);
    ManagerListener m = new ManagerListener() { };
    assertThat(ManagerListener.all(List.of())).isSameAs(ManagerListener.NO_OP);
    assertThat(ManagerListener.all(m)).isSameAs(m);
  }
}
