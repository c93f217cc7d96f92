package dev.kubemtls.core.rotation;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fan-out of a {@link CertificateManager}: holds the published snapshot and tells the material
 * listeners and the {@link ManagerListener} what happened, one call at a time and in order, on one
 * {@link SerialDelivery}. The manager calls {@link #publish} and {@link #tell} under its lock, so
 * the order of the calls is the order of its state changes; the calls run later, outside the lock.
 */
final class Announcer {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateManager.class);

  private final ManagerListener listener;
  private final SerialDelivery delivery;
  private final CopyOnWriteArrayList<Subscriber> subscribers = new CopyOnWriteArrayList<>();
  /** The published snapshot; written only under the manager's lock, read without it. */
  private volatile MtlsMaterial current;

  Announcer(ManagerListener listener, Executor executor) {
    this.listener = ManagerListener.all(Objects.requireNonNull(listener, "listener"));
    this.delivery = new SerialDelivery(executor);
  }

  Optional<MtlsMaterial> currentIfReady() {
    return Optional.ofNullable(current);
  }

  MaterialSource.Subscription subscribe(MaterialSource.MaterialListener materialListener) {
    Subscriber s = new Subscriber(Objects.requireNonNull(materialListener, "listener"));
    subscribers.add(s);
    return () -> {
      s.active = false;
      subscribers.remove(s);
    };
  }

  /**
   * Holds the lock. Makes {@code next} current at once and queues its delivery to the material
   * listeners subscribed now; they are called later, outside the lock.
   */
  void publish(MtlsMaterial next) {
    MtlsMaterial previous = current;
    if (previous != null && next.generation() <= previous.generation()) {
      throw new IllegalStateException("generation " + next.generation() + " is not newer than " + previous.generation());
    }
    current = next;
    Object[] to = subscribers.toArray();
    if (to.length == 0) {
      return;
    }
    delivery.submit(() -> {
      for (Object o : to) {
        Subscriber s = (Subscriber) o;
        if (!s.active) {
          continue;
        }
        try {
          s.listener.onMaterial(next);
        } catch (RuntimeException e) {
          LOG.warn("a material listener failed on generation {}", next.generation(), e);
        }
      }
    });
  }

  /** Holds the lock. Queues a call to the manager listener, to run outside the lock in order. */
  void tell(Consumer<ManagerListener> call) {
    delivery.submit(() -> {
      try {
        call.accept(listener);
      } catch (RuntimeException e) {
        LOG.warn("a manager listener failed", e);
      }
    });
  }

  private static final class Subscriber {
    final MaterialSource.MaterialListener listener;
    volatile boolean active = true;

    Subscriber(MaterialSource.MaterialListener listener) {
      this.listener = listener;
    }
  }
}
