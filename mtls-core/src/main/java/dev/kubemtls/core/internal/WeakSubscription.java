package dev.kubemtls.core.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.lang.ref.Cleaner;
import java.lang.ref.WeakReference;
import java.util.Objects;
import java.util.function.BiConsumer;

/**
 * A subscription to a {@link MaterialSource} that does not keep its subscriber alive. A source
 * usually lives as long as the process, so an ordinary subscription would keep every TLS context a
 * dropped server or client ever built, and rebuild it on every rotation. Here the source holds only
 * a weak reference: once the subscriber is unreachable the subscription closes itself, at the next
 * snapshot or when the {@link #CLEANER} notices, whichever comes first.
 */
public final class WeakSubscription {

  /** The library's one cleaner thread, for resources of subscribers that were never closed. */
  public static final Cleaner CLEANER = Cleaner.create();

  private WeakSubscription() {}

  /**
   * Subscribes {@code onMaterial}, which receives the subscriber and the snapshot; it must not
   * capture {@code subscriber} itself (use an unbound method reference such as {@code Foo::onMaterial}).
   */
  public static <T> MaterialSource.Subscription subscribe(MaterialSource source, T subscriber,
      BiConsumer<T, MtlsMaterial> onMaterial) {
    Objects.requireNonNull(subscriber, "subscriber");
    Objects.requireNonNull(onMaterial, "onMaterial");
    Listener<T> listener = new Listener<>(subscriber, onMaterial);
    listener.subscription = source.subscribe(listener);
    return listener.subscription;
  }

  private static final class Listener<T> implements MaterialSource.MaterialListener {
    private final WeakReference<T> subscriber;
    private final BiConsumer<T, MtlsMaterial> onMaterial;
    private volatile MaterialSource.Subscription subscription;

    Listener(T subscriber, BiConsumer<T, MtlsMaterial> onMaterial) {
      this.subscriber = new WeakReference<>(subscriber);
      this.onMaterial = onMaterial;
    }

    @Override
    public void onMaterial(MtlsMaterial material) {
      T target = subscriber.get();
      if (target == null) {
        MaterialSource.Subscription s = subscription;
        if (s != null) {
          s.close();
        }
        return;
      }
      onMaterial.accept(target, material);
    }
  }
}
