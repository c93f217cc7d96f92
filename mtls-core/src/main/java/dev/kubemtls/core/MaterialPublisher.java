package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link MaterialSource} that holds whatever was last {@linkplain #publish published}.
 *
 * <p>Use it to feed integrations with material obtained outside a {@link CertificateManager} (tests,
 * a one-off certificate, a source of your own). Publishing is serialized and listeners are called
 * on the publishing thread, so they see snapshots in the order they were published.
 *
 * <p>It keeps the promise of {@link MaterialSource}: nothing it hands out failed validation. Each
 * snapshot is {@linkplain MtlsMaterial#validate() validated} before it becomes current, and one
 * that fails, or whose generation is not newer than the current one, is refused with the current
 * snapshot kept and no listener told; integrations therefore build TLS contexts from what it
 * publishes without checking the material again.
 */
public final class MaterialPublisher implements MaterialSource {

  private static final Logger LOG = LoggerFactory.getLogger(MaterialPublisher.class);

  private final CopyOnWriteArrayList<MaterialListener> listeners = new CopyOnWriteArrayList<>();
  private volatile MtlsMaterial current;

  /** An empty publisher: not ready until the first {@link #publish}. */
  public MaterialPublisher() {}

  /**
   * A publisher that starts with {@code initial}.
   *
   * @throws InvalidMaterialException if {@link MtlsMaterial#validate()} refuses it
   */
  public MaterialPublisher(MtlsMaterial initial) {
    Objects.requireNonNull(initial, "initial").validate();
    this.current = initial;
  }

  @Override
  public MtlsMaterial current() {
    MtlsMaterial m = current;
    if (m == null) {
      throw new IllegalStateException("no TLS material yet: the first certificate has not been issued");
    }
    return m;
  }

  @Override
  public Optional<MtlsMaterial> currentIfReady() {
    return Optional.ofNullable(current);
  }

  /**
   * Makes {@code material} current and tells every listener.
   *
   * @throws IllegalArgumentException if its generation is not newer than the current one
   * @throws InvalidMaterialException if {@link MtlsMaterial#validate()} refuses it; the current
   *     snapshot stays and no listener is told
   */
  public synchronized void publish(MtlsMaterial material) {
    Objects.requireNonNull(material, "material");
    MtlsMaterial previous = current;
    if (previous != null && material.generation() <= previous.generation()) {
      throw new IllegalArgumentException("material generation " + material.generation()
          + " is not newer than the current " + previous.generation());
    }
    material.validate();
    current = material;
    for (MaterialListener listener : listeners) {
      try {
        listener.onMaterial(material);
      } catch (RuntimeException e) {
        LOG.warn("a material listener failed on generation {}", material.generation(), e);
      }
    }
  }

  @Override
  public Subscription subscribe(MaterialListener listener) {
    Objects.requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }
}
