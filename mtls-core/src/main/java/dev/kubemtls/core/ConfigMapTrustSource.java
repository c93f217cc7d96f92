package dev.kubemtls.core;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ExceptionHandler;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link TrustSource} that follows one key of one ConfigMap, typically the CA bundle that the
 * kube-mtls signer publishes into each namespace.
 *
 * <p>Who holds what: the source holds the last valid bundle it read. An informer (a list, then a
 * watch, relisting after a dropped watch so no update is missed) tells it of each change, and a
 * bundle with different certificates is passed to the listeners at once. Anything unusable leaves
 * the previous bundle in place and is reported to the listeners' {@code onProblem} and
 * {@link #lastProblem()}: a missing key, text that is not PEM certificates, an empty bundle, a
 * certificate that is not a CA, a deleted ConfigMap, or a failing watch (for example RBAC). A
 * recreated ConfigMap is followed again.
 *
 * <p>The workload needs only {@code get}, {@code list} and {@code watch} on {@code configmaps} in
 * the ConfigMap's namespace (and may restrict them with {@code resourceNames}). The informer runs
 * on the client's threads; {@link #close()} stops it. The client stays the caller's.
 */
public final class ConfigMapTrustSource implements TrustSource, AutoCloseable {

  /** The key read unless {@link Builder#key} says otherwise. */
  public static final String DEFAULT_KEY = "ca.crt";

  private static final Logger LOG = LoggerFactory.getLogger(ConfigMapTrustSource.class);

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final String key;
  private final Duration resync;
  private final InstantSource clock;
  private final TrustPublisher publisher = new TrustPublisher();
  private final CompletableFuture<TrustBundle> first = new CompletableFuture<>();
  private volatile MtlsException lastProblem;
  private SharedIndexInformer<ConfigMap> informer;
  private boolean closed;

  private ConfigMapTrustSource(Builder b) {
    this.client = b.client;
    this.namespace = b.namespace;
    this.name = b.name;
    this.key = b.key;
    this.resync = b.resync;
    this.clock = b.clock;
  }

  /** Follows key {@code ca.crt} of ConfigMap {@code namespace/name}. */
  public static Builder builder(KubernetesClient client, String namespace, String name) {
    return new Builder(client, namespace, name);
  }

  /**
   * Starts following the ConfigMap.
   *
   * @return completes with the first valid bundle (it may take until the ConfigMap is created)
   * @throws IllegalStateException if already started or closed
   */
  public synchronized CompletableFuture<TrustBundle> start() {
    if (closed) {
      throw new IllegalStateException("the trust source is closed");
    }
    if (informer != null) {
      throw new IllegalStateException("the trust source was already started");
    }
    informer = client.configMaps().inNamespace(namespace).withName(name).runnableInformer(resync.toMillis());
    informer.exceptionHandler(new ExceptionHandler() {
      @Override
      public boolean retryAfterException(boolean isStarted, Throwable t) {
        problem(new MtlsException("cannot list or watch ConfigMap " + namespace + "/" + name + " (does the"
            + " workload have get, list and watch on configmaps in " + namespace + "?): " + t.getMessage(), t));
        return !ExceptionHandler.isDeserializationException(t);
      }
    });
    informer.addEventHandler(new ResourceEventHandler<ConfigMap>() {
      @Override
      public void onAdd(ConfigMap configMap) {
        read(configMap);
      }

      @Override
      public void onUpdate(ConfigMap previous, ConfigMap configMap) {
        read(configMap);
      }

      @Override
      public void onDelete(ConfigMap configMap, boolean finalStateUnknown) {
        problem(new MtlsException("ConfigMap " + namespace + "/" + name + " was deleted; keeping the previous"
            + " trust bundle until it is recreated"));
      }
    });
    informer.start();
    LOG.info("following trust bundle in ConfigMap {}/{} key {}", namespace, name, key);
    return first.copy();
  }

  @Override
  public Optional<TrustBundle> currentIfReady() {
    return publisher.currentIfReady();
  }

  @Override
  public Subscription subscribe(Listener listener) {
    return publisher.subscribe(listener);
  }

  /** The last problem since the last valid bundle, if any. */
  public Optional<MtlsException> lastProblem() {
    return Optional.ofNullable(lastProblem);
  }

  /** Stops the informer. Closing twice is harmless. */
  @Override
  public void close() {
    SharedIndexInformer<ConfigMap> toStop;
    synchronized (this) {
      closed = true;
      toStop = informer;
    }
    if (toStop != null) {
      toStop.stop();
    }
    first.completeExceptionally(new IllegalStateException("the trust source was closed"));
  }

  private void read(ConfigMap configMap) {
    TrustBundle bundle;
    try {
      bundle = TrustBundles.fromConfigMap(configMap, key, clock);
    } catch (InvalidMaterialException e) {
      problem(new InvalidMaterialException(e.getMessage() + "; keeping the previous trust bundle", e));
      return;
    }
    lastProblem = null;
    if (publisher.publish(bundle)) {
      LOG.info("trust bundle from {}", bundle);
      if (!bundle.ignored().isEmpty()) {
        LOG.warn("left out of the trust bundle: {}; remove it from the ConfigMap", String.join("; ", bundle.ignored()));
      }
    }
    first.complete(bundle);
  }

  private void problem(MtlsException problem) {
    lastProblem = problem;
    LOG.warn("{}", problem.getMessage());
    publisher.reportProblem(problem);
  }

  /** Options of a {@link ConfigMapTrustSource}. */
  public static final class Builder {
    private final KubernetesClient client;
    private final String namespace;
    private final String name;
    private String key = DEFAULT_KEY;
    private Duration resync = Duration.ofMinutes(10);
    private InstantSource clock = InstantSource.system();

    private Builder(KubernetesClient client, String namespace, String name) {
      this.client = Objects.requireNonNull(client, "client");
      this.namespace = KubernetesNames.requireDnsLabel("namespace", namespace);
      this.name = KubernetesNames.requireDnsSubdomain("ConfigMap name", name);
    }

    /** The data key holding the PEM bundle; {@code ca.crt} by default. */
    public Builder key(String key) {
      Objects.requireNonNull(key, "key");
      if (key.isEmpty() || key.length() > 253 || !key.matches("[-._a-zA-Z0-9]+")) {
        throw new IllegalArgumentException("ConfigMap key '" + key + "' is not valid: use letters, digits,"
            + " '-', '_' and '.'");
      }
      this.key = key;
      return this;
    }

    /**
     * How often the informer re-delivers the cached ConfigMap (a safety net; changes arrive by
     * watch at once); zero turns it off. Ten minutes by default.
     */
    public Builder resync(Duration resync) {
      Objects.requireNonNull(resync, "resync");
      if (resync.isNegative()) {
        throw new IllegalArgumentException("resync must not be negative, was " + resync);
      }
      this.resync = resync;
      return this;
    }

    /** The clock against which CA expiry is judged; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    public ConfigMapTrustSource build() {
      return new ConfigMapTrustSource(this);
    }
  }
}
