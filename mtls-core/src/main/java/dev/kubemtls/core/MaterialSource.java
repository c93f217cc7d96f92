package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import java.util.Optional;

/**
 * Where integrations (Netty, Jetty) get the TLS material for each new connection.
 *
 * <p>The source holds at most one {@link MtlsMaterial} snapshot at a time. {@link #current()} is a
 * cheap volatile read meant to be called per connection. Listeners are told of every new snapshot,
 * in order, after it has become current; a source never publishes material that failed validation.
 *
 * <p>The usual source is a {@link CertificateManager}; {@link MaterialPublisher} is a plain holder
 * for material obtained some other way (for example once, with {@code CertificateIssuer}).
 */
public interface MaterialSource {

  /**
   * The current snapshot.
   *
   * @throws IllegalStateException if the source has no material yet (see {@link #currentIfReady()})
   */
  MtlsMaterial current();

  /** The current snapshot, or empty before the first one arrived. */
  Optional<MtlsMaterial> currentIfReady();

  /**
   * Registers a listener for new snapshots. If the source already has material, the listener is
   * not called for it; read {@link #current()} after subscribing.
   *
   * @return a handle that removes the listener when closed
   */
  Subscription subscribe(MaterialListener listener);

  /** Told of each new snapshot. Must not block: it runs on the source's publishing thread. */
  @FunctionalInterface
  interface MaterialListener {
    void onMaterial(MtlsMaterial material);
  }

  /**
   * Removes a listener. Closing twice is harmless. The one subscription handle of kube-mtls: trust
   * sources ({@link TrustSource#subscribe}) return it too.
   */
  interface Subscription extends AutoCloseable {
    @Override
    void close();
  }
}
