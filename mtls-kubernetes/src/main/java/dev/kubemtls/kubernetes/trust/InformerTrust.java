package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.TrustSource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.ExceptionHandler;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the Kubernetes-backed trust sources share: an informer over the objects that hold the
 * bundle, and on every change a fresh read (of everything it has cached, or for a source of one
 * object of the version the change delivered), which either publishes a valid bundle or keeps the
 * previous one and reports why. Not API: the base of
 * {@link ConfigMapTrustSource} and {@link ClusterTrustBundleTrustSource}. Its public methods are not
 * final, so that javac gives those public classes visibility bridges and reflection on them works
 * outside this package; the subclasses are final.
 *
 * @param <T> the kind of object followed
 */
abstract class InformerTrust<T extends HasMetadata> implements TrustSource, AutoCloseable {

  /** Turns the cached objects into a bundle. */
  interface Reader<T> {
    /**
     * @return the bundle, or null when the reader cannot decide yet and waits for something else
     *     ({@link #recheck()} asks again); that is no problem, and nothing is published
     * @throws InvalidMaterialException if the content is unusable (the message is extended with what
     *     happens next)
     * @throws MtlsException            for anything else that leaves no bundle, with a full message
     */
    TrustBundle read(List<T> cached);
  }

  /** How often the informer re-delivers its cache unless the builder says otherwise. */
  static final Duration DEFAULT_RESYNC = Duration.ofMinutes(10);

  private final Logger log;
  private final String what;
  private final String permissions;
  private final Reader<T> reader;
  private final boolean eachVersion;
  private final TrustPublisher publisher = new TrustPublisher();
  private final CompletableFuture<TrustBundle> first = new CompletableFuture<>();
  private final Object refreshLock = new Object();
  /** With {@code eachVersion}: the version of the last event handled (held by {@code refreshLock}). */
  private List<T> lastVersion;
  private volatile MtlsException lastProblem;
  private SharedIndexInformer<T> informer;
  private boolean closed;

  /**
   * @param owner       the public source, whose logger is used
   * @param what        names what is followed in logs and problems, e.g. {@code "ConfigMap ns/name"}
   * @param permissions the permissions a failing list or watch probably lacks, for the problem text
   * @param reader      turns the informer's cache into a bundle
   * @param eachVersion for a source of one object: judge each version the watch delivers, not the
   *     cache, which may already hold a later one when the event is handled (a forged version the
   *     signer repaired at once is still seen and reported)
   */
  InformerTrust(Class<?> owner, String what, String permissions, Reader<T> reader, boolean eachVersion) {
    this.log = LoggerFactory.getLogger(owner);
    this.what = Objects.requireNonNull(what, "what");
    this.permissions = Objects.requireNonNull(permissions, "permissions");
    this.reader = Objects.requireNonNull(reader, "reader");
    this.eachVersion = eachVersion;
  }

  /**
   * Creates the informer with {@code factory} and starts it.
   *
   * @return completes with the first valid bundle
   * @throws IllegalStateException if already started or closed
   */
  final synchronized CompletableFuture<TrustBundle> startInformer(Supplier<SharedIndexInformer<T>> factory) {
    if (closed) {
      throw new IllegalStateException("the trust source is closed");
    }
    if (informer != null) {
      throw new IllegalStateException("the trust source was already started");
    }
    SharedIndexInformer<T> created = factory.get();
    informer = created;
    created.exceptionHandler(new ExceptionHandler() {
      @Override
      public boolean retryAfterException(boolean isStarted, Throwable t) {
        problem(new MtlsException("cannot list or watch " + what + " (does the workload have " + permissions
            + "?): " + t.getMessage(), t));
        return !ExceptionHandler.isDeserializationException(t);
      }
    });
    created.addEventHandler(new ResourceEventHandler<T>() {
      @Override
      public void onAdd(T obj) {
        refresh(created, eachVersion ? List.of(obj) : null);
      }

      @Override
      public void onUpdate(T previous, T obj) {
        refresh(created, eachVersion ? List.of(obj) : null);
      }

      @Override
      public void onDelete(T obj, boolean finalStateUnknown) {
        refresh(created, eachVersion ? List.of() : null);
      }
    });
    created.start();
    log.info("following the trust bundle in {}", what);
    return first.copy();
  }

  /** Checks a builder's resync period: zero (off) or positive. */
  static Duration requireResync(Duration resync) {
    Objects.requireNonNull(resync, "resync");
    if (resync.isNegative()) {
      throw new IllegalArgumentException("resync must not be negative, was " + resync);
    }
    return resync;
  }

  @Override
  public Optional<TrustBundle> currentIfReady() {
    return publisher.currentIfReady();
  }

  @Override
  public MaterialSource.Subscription subscribe(Listener listener) {
    return publisher.subscribe(listener);
  }

  /** The last problem since the last valid bundle, if any. */
  public Optional<MtlsException> lastProblem() {
    return Optional.ofNullable(lastProblem);
  }

  /** Stops the informer. Closing twice is harmless. */
  @Override
  public void close() {
    SharedIndexInformer<T> toStop;
    synchronized (this) {
      closed = true;
      toStop = informer;
    }
    if (toStop != null) {
      toStop.stop();
    }
    first.completeExceptionally(new IllegalStateException("the trust source was closed"));
  }

  /**
   * Reads the cached objects again (a source of one object: the version of the last event handled),
   * as if they had just changed: for a reader whose verdict depends on more than the objects (what
   * the workload learned since). Does nothing before start.
   */
  final void recheck() {
    SharedIndexInformer<T> current;
    synchronized (this) {
      current = closed ? null : informer;
    }
    if (current != null && current.hasSynced()) {
      refresh(current, null);
    }
  }

  // Events arrive one at a time, in order, on the informer's thread, rechecks on others: one read at
  // a time. The cache already holds the change, and perhaps later ones: a source of one object is
  // given the version of the event, and its rechecks judge the version of the last event handled, so
  // that an event still queued is never older than what was judged (null: read the cache).
  private void refresh(SharedIndexInformer<T> from, List<T> version) {
    synchronized (refreshLock) {
      if (!eachVersion) {
        read(from.getStore().list());
      } else if (version != null) {
        lastVersion = version;
        read(version);
      } else if (lastVersion != null) {
        read(lastVersion);
      }
      // else: a recheck before the first event was handled; that event is judged when it comes.
    }
  }

  private void read(List<T> objects) {
    TrustBundle bundle;
    try {
      bundle = reader.read(objects);
    } catch (InvalidMaterialException e) {
      problem(new InvalidMaterialException(e.getMessage() + "; keeping the previous trust bundle", e));
      return;
    } catch (MtlsException e) {
      problem(e);
      return;
    }
    if (bundle == null) {
      log.debug("the trust bundle in {} waits to be vouched for", what);
      return;
    }
    lastProblem = null;
    if (publisher.publish(bundle)) {
      log.info("trust bundle from {}", bundle);
      if (!bundle.ignored().isEmpty()) {
        log.warn("left out of the trust bundle: {}; remove it from the {}", String.join("; ", bundle.ignored()),
            what);
      }
    }
    first.complete(bundle);
  }

  private void problem(MtlsException problem) {
    lastProblem = problem;
    log.warn("{}", problem.getMessage());
    publisher.reportProblem(problem);
  }
}
