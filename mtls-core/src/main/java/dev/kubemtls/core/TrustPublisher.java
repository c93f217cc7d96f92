package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link TrustSource} that holds whatever bundle was last {@linkplain #publish published}.
 *
 * <p>Use it to feed a {@link CertificateManager} from a place kube-mtls does not know (a file, a
 * secret store); {@code ConfigMapTrustSource} uses one internally. Publishing is serialized, so
 * listeners see bundles and problems in order. Publishing a bundle with the same certificates as
 * the current one changes nothing and tells nobody, unless a problem was reported since the last
 * bundle: then listeners hear the bundle again, which tells them the problem is over.
 */
public final class TrustPublisher implements TrustSource {

  private static final Logger LOG = LoggerFactory.getLogger(TrustPublisher.class);

  private final CopyOnWriteArrayList<Listener> listeners = new CopyOnWriteArrayList<>();
  private volatile TrustBundle current;
  private boolean problemSinceBundle; // guarded by this

  /** An empty publisher: no bundle until the first {@link #publish}. */
  public TrustPublisher() {}

  /** A publisher that starts with {@code initial}. */
  public TrustPublisher(TrustBundle initial) {
    this.current = Objects.requireNonNull(initial, "initial");
  }

  @Override
  public Optional<TrustBundle> currentIfReady() {
    return Optional.ofNullable(current);
  }

  /**
   * Makes {@code bundle} current and tells every listener, unless it holds exactly the current
   * certificates and no problem was reported since.
   *
   * @return whether the bundle changed
   */
  public synchronized boolean publish(TrustBundle bundle) {
    Objects.requireNonNull(bundle, "bundle");
    TrustBundle previous = current;
    boolean same = previous != null && previous.certificates().equals(bundle.certificates());
    if (same && !problemSinceBundle) {
      return false;
    }
    problemSinceBundle = false;
    if (!same) {
      current = bundle;
    }
    TrustBundle told = same ? previous : bundle;
    for (Listener listener : listeners) {
      try {
        listener.onBundle(told);
      } catch (RuntimeException e) {
        LOG.warn("a trust listener failed on {}", told.sourceVersion(), e);
      }
    }
    return !same;
  }

  /** Tells every listener of a problem; the current bundle stays. */
  public synchronized void reportProblem(MtlsException problem) {
    Objects.requireNonNull(problem, "problem");
    problemSinceBundle = true;
    for (Listener listener : listeners) {
      try {
        listener.onProblem(problem);
      } catch (RuntimeException e) {
        LOG.warn("a trust listener failed on a problem report", e);
      }
    }
  }

  @Override
  public MaterialSource.Subscription subscribe(Listener listener) {
    Objects.requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }
}
