package dev.kubemtls.kubernetes.csr;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits on one named API object until a {@link Judge} finds it done, a deadline passes or the
 * object goes away; nothing in it knows what the object is.
 *
 * <p>It watches the object from the resourceVersion it was last seen at, so no change between a
 * read and the watch is missed. After a dropped watch it re-reads the object, judges that version
 * and watches again from there; when the API server's history no longer reaches back (410 Gone) it
 * watches from "now", which replays the current state first. Bookmarks move the resume point.
 * Failed reads and watches are retried after 200 ms doubling to 5 s (the first re-read after a
 * dropped watch is immediate); a watch refused with 403 is retried a few times, since RBAC changes
 * reach the authorizer with a delay, before the judge's refusal is thrown. Events of a closed watch
 * are ignored. One thread runs one wait; the wait polls at least once a second, so its deadline is
 * kept on the injected clock.
 */
final class WatchOne<T extends HasMetadata> {

  private static final Logger LOG = LoggerFactory.getLogger(WatchOne.class);

  private static final long MAX_POLL_MILLIS = 1000;
  private static final Duration FIRST_RETRY = Duration.ofMillis(200);
  private static final Duration MAX_RETRY = Duration.ofSeconds(5);
  private static final int MAX_FORBIDDEN = 4;

  /** What the object's versions mean. */
  interface Judge<T> {
    /** Returns the object when it is done, empty to keep waiting; throws for a terminal outcome. */
    Optional<T> observe(T object);

    /** The exception for an object deleted before it was done. */
    RuntimeException deleted();

    /** The exception for a wait that reached its deadline. */
    RuntimeException timedOut();

    /** The exception for a watch that is still refused after a few tries. */
    RuntimeException forbidden(KubernetesClientException e);
  }

  /** The two calls a wait makes: read the object (null when it does not exist) and watch it. */
  interface Api<T> {
    T get();

    /** Watches the object from {@code resourceVersion} (null: from now, current state first). */
    Watch watch(String resourceVersion, Watcher<T> watcher);
  }

  /** One thing a watch told us, tagged with the watch it came from. */
  private record Event<T>(int watchId, Watcher.Action action, T object, WatcherException closed) {}

  private final String what;
  private final Api<T> api;
  private final Judge<T> judge;
  private final InstantSource clock;
  private final Instant deadline;
  private final BlockingQueue<Event<T>> events = new LinkedBlockingQueue<>();
  private T first;
  private String resourceVersion;
  private int watchId;
  private Watch watch;
  private boolean needsResync;
  private boolean historyGone;
  private int closesWithoutEvent;
  private int forbidden;
  private Duration retryDelay = FIRST_RETRY;
  private Instant retryAt;
  private CompletableFuture<Watch> ahead;

  /**
   * @param what            the object, for the log ({@code CertificateSigningRequest <name>})
   * @param resourceVersion the version the object was last seen at
   * @param first           the object as just read, judged before watching; null if there is none
   */
  WatchOne(String what, Api<T> api, Judge<T> judge, InstantSource clock, Instant deadline, String resourceVersion,
      T first) {
    this.what = Objects.requireNonNull(what, "what");
    this.api = Objects.requireNonNull(api, "api");
    this.judge = Objects.requireNonNull(judge, "judge");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.deadline = Objects.requireNonNull(deadline, "deadline");
    this.resourceVersion = resourceVersion;
    this.first = first;
  }

  /**
   * Opens the first watch now, on {@code executor}, before the object exists (the caller is about to
   * create it, under a name it chose): from "now", so the creation arrives as an event, or, if the
   * watch opens after it, as the current state the API server replays first. Opening a watch (a
   * request, or with fabric8's JDK client and WebSocket watches a connection and TLS handshake of
   * its own; {@code KubeMtls} watches over HTTP) then overlaps the create instead of following it. {@link #run()} takes it over; {@link #dropAhead()} closes it if
   * the object is not created after all.
   */
  void watchAhead(Executor executor) {
    int id = ++watchId;
    Watcher<T> watcher = watcher(id);
    ahead = CompletableFuture.supplyAsync(() -> api.watch(null, watcher), executor);
  }

  /** The version the object was created at (after {@link #watchAhead}): a dropped watch resumes from it. */
  void createdAt(String resourceVersion) {
    this.resourceVersion = resourceVersion;
  }

  /** Closes a watch opened ahead of a creation that did not happen. */
  void dropAhead() {
    if (ahead != null) {
      watchId++;
      ahead.thenAccept(Watch::close);
      ahead = null;
    }
  }

  /** Waits; returns the object the judge found done. */
  T run() throws InterruptedException {
    try {
      if (first != null) {
        Optional<T> done = observe(first);
        first = null;
        if (done.isPresent()) {
          return done.get();
        }
      }
      if (ahead != null) {
        adoptAhead();
      } else {
        startWatch();
      }
      while (true) {
        Instant now = clock.instant();
        if (!now.isBefore(deadline)) {
          throw judge.timedOut();
        }
        if (needsResync && !now.isBefore(retryAt)) {
          Optional<T> done = resync();
          if (done.isPresent()) {
            return done.get();
          }
          continue;
        }
        long waitMillis = Math.min(MAX_POLL_MILLIS, Duration.between(now, needsResync && retryAt.isBefore(deadline)
            ? retryAt : deadline).toMillis());
        Event<T> e = events.poll(Math.max(1, waitMillis), TimeUnit.MILLISECONDS);
        if (e == null || e.watchId() != watchId) {
          continue;
        }
        if (e.action() == null || e.action() == Watcher.Action.ERROR) {
          historyGone = e.closed() != null && e.closed().isHttpGone();
          Duration delay = closesWithoutEvent++ == 0 ? Duration.ZERO : retryDelay;
          LOG.info("Watch on {} closed ({}); re-reading it in {}", what, e.closed() == null ? "error event"
              : historyGone ? "history compacted, 410 Gone" : e.closed().getMessage(), delay);
          scheduleResync(delay);
          continue;
        }
        closesWithoutEvent = 0;
        retryDelay = FIRST_RETRY;
        if (e.action() == Watcher.Action.BOOKMARK) {
          resourceVersion = e.object().getMetadata().getResourceVersion();
          continue;
        }
        if (e.action() == Watcher.Action.DELETED) {
          throw judge.deleted();
        }
        Optional<T> done = observe(e.object());
        if (done.isPresent()) {
          return done.get();
        }
      }
    } finally {
      closeWatch();
    }
  }

  private Optional<T> observe(T object) {
    Optional<T> done = judge.observe(object);
    resourceVersion = object.getMetadata().getResourceVersion();
    return done;
  }

  /** After a dropped watch: read the object as it is now, then watch again from there. */
  private Optional<T> resync() throws InterruptedException {
    closeWatch();
    T current;
    try {
      current = api.get();
    } catch (KubernetesClientException e) {
      rethrowIfInterrupted(e);
      LOG.info("Could not re-read {} (HTTP {}); retrying in {}", what, e.getCode(), retryDelay);
      scheduleResync(retryDelay);
      return Optional.empty();
    }
    if (current == null) {
      throw judge.deleted();
    }
    Optional<T> done = observe(current);
    if (done.isPresent()) {
      return done;
    }
    needsResync = false;
    if (historyGone) {
      // The API server no longer has history back to this object's version (e.g. its watch cache
      // was rebuilt): watch from "now", which first replays the object's current state as ADDED.
      resourceVersion = null;
      historyGone = false;
    }
    startWatch();
    return Optional.empty();
  }

  private void scheduleResync(Duration delay) {
    closeWatch();
    needsResync = true;
    retryAt = clock.instant().plus(delay);
    if (!delay.isZero()) {
      Duration doubled = retryDelay.multipliedBy(2);
      retryDelay = doubled.compareTo(MAX_RETRY) > 0 ? MAX_RETRY : doubled;
    }
  }

  private Watcher<T> watcher(int id) {
    return new Watcher<>() {
      @Override
      public void eventReceived(Action action, T object) {
        events.add(new Event<>(id, action, object, null));
      }

      @Override
      public void onClose(WatcherException cause) {
        events.add(new Event<>(id, null, null, cause));
      }
    };
  }

  private void startWatch() throws InterruptedException {
    int id = ++watchId;
    try {
      watch = api.watch(resourceVersion, watcher(id));
    } catch (KubernetesClientException e) {
      watchFailed(e);
    }
  }

  /** Waits until the watch opened ahead is open (as {@link #startWatch} waits for its own) and keeps it. */
  private void adoptAhead() throws InterruptedException {
    CompletableFuture<Watch> opening = ahead;
    ahead = null;
    try {
      watch = opening.get();
    } catch (InterruptedException e) {
      watchId++;
      opening.thenAccept(Watch::close);
      throw e;
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() instanceof CompletionException && e.getCause().getCause() != null
          ? e.getCause().getCause() : e.getCause();
      if (cause instanceof KubernetesClientException kce) {
        watchFailed(kce);
      } else if (cause instanceof RuntimeException re) {
        throw re;
      } else {
        throw new IllegalStateException("watching " + what + " failed", cause);
      }
    }
  }

  private void watchFailed(KubernetesClientException e) throws InterruptedException {
    rethrowIfInterrupted(e);
    watch = null;
    LOG.info("Could not watch {} (HTTP {}); retrying in {}", what, e.getCode(), retryDelay);
    if (e.getCode() == 403 && ++forbidden >= MAX_FORBIDDEN) {
      throw judge.forbidden(e);
    }
    scheduleResync(retryDelay);
  }

  private void closeWatch() {
    watchId++; // events still in flight from the old watch are ignored
    if (watch != null) {
      watch.close();
      watch = null;
    }
  }

  /**
   * Turns a client failure caused by an interrupt into an {@link InterruptedException} (clearing the
   * flag, which the exception now carries).
   */
  static void rethrowIfInterrupted(KubernetesClientException e) throws InterruptedException {
    if (Thread.currentThread().isInterrupted() || e.getCause() instanceof InterruptedException) {
      InterruptedException ie = new InterruptedException("interrupted while talking to the API server");
      ie.initCause(e);
      Thread.interrupted();
      throw ie;
    }
  }
}
