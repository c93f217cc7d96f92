package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import java.util.Objects;
import java.util.Optional;

/**
 * Where a {@link CertificateManager} gets the CAs it trusts, and learns that they changed.
 *
 * <p>A source holds at most one {@link TrustBundle} at a time: none until the first valid bundle
 * arrived, then always the latest valid one. Garbage from outside (an empty or unparseable bundle,
 * a certificate that is not a CA, a deleted ConfigMap) never replaces a valid bundle; the source
 * keeps the previous one and tells its listeners of the problem instead. {@link #fixed} is a
 * bundle that never changes; {@link TrustPublisher} is one a program updates itself;
 * {@code ConfigMapTrustSource} follows a ConfigMap; {@code ClusterTrustBundleTrustSource} follows
 * the ClusterTrustBundles of a signer.
 */
public interface TrustSource {

  /**
   * The current bundle.
   *
   * @throws IllegalStateException if no valid bundle has arrived yet
   */
  default TrustBundle current() {
    return currentIfReady().orElseThrow(() -> new IllegalStateException("no trust bundle yet"));
  }

  /** The current bundle, or empty before the first valid one arrived. */
  Optional<TrustBundle> currentIfReady();

  /**
   * Registers a listener. If the source already has a bundle, the listener is not called for it;
   * read {@link #currentIfReady()} after subscribing.
   */
  MaterialSource.Subscription subscribe(Listener listener);

  /** A source that always holds {@code bundle}. */
  static TrustSource fixed(TrustBundle bundle) {
    Objects.requireNonNull(bundle, "bundle");
    return new TrustSource() {
      @Override
      public Optional<TrustBundle> currentIfReady() {
        return Optional.of(bundle);
      }

      @Override
      public MaterialSource.Subscription subscribe(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        return () -> { };
      }

      @Override
      public String toString() {
        return "TrustSource.fixed(" + bundle + ")";
      }
    };
  }

  /**
   * Told of each new valid bundle and of each problem. Must not block: it runs on the source's
   * thread.
   */
  interface Listener {
    /** A new valid bundle is current. */
    void onBundle(TrustBundle bundle);

    /** The source saw something it could not use; the previous bundle (if any) stays current. */
    default void onProblem(MtlsException problem) {}
  }
}
