package dev.kubemtls.kubernetes;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.kubernetes.trust.ClusterTrustBundleTrustSource;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@link ClusterTrustBundleTrustSource} per Kubernetes client, signer name, served version and
 * clock in this JVM, shared by every {@link KubeMtls} that follows the same bundles: one informer,
 * one watch (a stream on the client's HTTP/2 connection, see {@link HttpWatchClients}) and one
 * cache, however many workloads a process runs. The source starts with
 * its first lease and stops when its last lease is released; a later lease starts a new one. The
 * bundles and their reading are the same for every holder (the clock is part of the key), so a
 * holder sees exactly what a source of its own would show. Not API.
 */
final class SharedClusterTrustBundles {

  private static final Logger LOG = LoggerFactory.getLogger(SharedClusterTrustBundles.class);

  /** The live sources, with their number of leases; guarded by the class. */
  private static final Map<Key, Entry> SOURCES = new HashMap<>();

  private SharedClusterTrustBundles() {}

  /** What makes two sources the same: the very same client and clock, the signer name and the version. */
  private static final class Key {
    private final KubernetesClient client;
    private final String signerName;
    private final String version;
    private final InstantSource clock;

    Key(KubernetesClient client, String signerName, String version, InstantSource clock) {
      this.client = client;
      this.signerName = signerName;
      this.version = version;
      this.clock = clock;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.client == client && k.clock == clock && k.signerName.equals(signerName)
          && k.version.equals(version);
    }

    @Override
    public int hashCode() {
      return Objects.hash(System.identityHashCode(client), signerName, version, System.identityHashCode(clock));
    }
  }

  /**
   * A running source and its holders' listeners. The source tells this entry, which tells every
   * holder, all under the entry's lock: a new holder's first bundle (the current one, passed on when
   * it subscribes) therefore comes before any later one, never after it.
   */
  private static final class Entry implements TrustSource.Listener {
    final ClusterTrustBundleTrustSource source;
    int leases; // guarded by the class
    private final List<TrustSource.Listener> listeners = new ArrayList<>(); // guarded by this
    private TrustBundle current; // guarded by this
    private MtlsException problem; // guarded by this; the last one since the last bundle

    Entry(ClusterTrustBundleTrustSource source) {
      this.source = source;
    }

    @Override
    public synchronized void onBundle(TrustBundle bundle) {
      current = bundle;
      problem = null;
      for (TrustSource.Listener l : listeners) {
        try {
          l.onBundle(bundle);
        } catch (RuntimeException e) {
          LOG.warn("a trust listener failed", e);
        }
      }
    }

    @Override
    public synchronized void onProblem(MtlsException p) {
      problem = p;
      for (TrustSource.Listener l : listeners) {
        try {
          l.onProblem(p);
        } catch (RuntimeException e) {
          LOG.warn("a trust listener failed on a problem report", e);
        }
      }
    }

    synchronized void add(TrustSource.Listener listener) {
      listeners.add(listener);
      if (current != null) {
        listener.onBundle(current);
      }
      if (problem != null) {
        listener.onProblem(problem);
      }
    }

    synchronized void remove(TrustSource.Listener listener) {
      listeners.remove(listener);
    }
  }

  /** One holder's use of a shared source, released once. */
  static final class Lease implements AutoCloseable {
    private final Key key;
    private final Entry entry;
    private final TrustSource.Listener listener;
    private boolean released; // guarded by the class

    private Lease(Key key, Entry entry, TrustSource.Listener listener) {
      this.key = key;
      this.entry = entry;
      this.listener = listener;
    }

    /** Unsubscribes; the last lease of a source stops it. Releasing twice is harmless. */
    @Override
    public void close() {
      ClusterTrustBundleTrustSource toClose = null;
      synchronized (SharedClusterTrustBundles.class) {
        if (released) {
          return;
        }
        released = true;
        if (--entry.leases == 0) {
          SOURCES.remove(key, entry);
          toClose = entry.source;
        }
      }
      entry.remove(listener);
      if (toClose != null) {
        toClose.close();
      }
    }

    @Override
    public String toString() {
      return entry.source.toString();
    }
  }

  /**
   * Subscribes {@code listener} to the source for these parameters, starting one if there is none.
   * A source already running tells the new listener of its current bundle at once (and of its last
   * problem since that bundle), as its own source would have done when it started.
   */
  static Lease acquire(KubernetesClient client, String signerName, String version, InstantSource clock,
      TrustSource.Listener listener) {
    Objects.requireNonNull(listener, "listener");
    Key key = new Key(client, signerName, version, clock);
    // Under the class's lock, so that a source is seen by a second holder only once it has started
    // (starting an informer does not wait for the API server).
    synchronized (SharedClusterTrustBundles.class) {
      Entry entry = SOURCES.get(key);
      boolean first = entry == null;
      if (first) {
        // Its watch a stream on the client's HTTP/2 connection, not a WebSocket connection of its own.
        entry = new Entry(ClusterTrustBundleTrustSource.builder(HttpWatchClients.of(client), signerName)
            .servedVersion(version).clock(clock).build());
        entry.source.subscribe(entry);
        entry.add(listener);
        entry.source.start();
        SOURCES.put(key, entry);
      } else {
        entry.add(listener);
        LOG.debug("sharing the running {}", entry.source);
      }
      entry.leases++;
      return new Lease(key, entry, listener);
    }
  }

  /** How many sources are running (for tests). */
  static synchronized int running() {
    return SOURCES.size();
  }
}
