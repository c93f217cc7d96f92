package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

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
public final class ConfigMapTrustSource extends InformerTrust<ConfigMap> {

  /** The key read unless {@link Builder#key} says otherwise. */
  public static final String DEFAULT_KEY = Defaults.TRUST_BUNDLE_KEY;

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final Duration resync;

  private ConfigMapTrustSource(Builder b) {
    super(ConfigMapTrustSource.class, "ConfigMap " + b.namespace + "/" + b.name + " key " + b.key,
        "get, list and watch on configmaps in " + b.namespace, reader(b));
    this.client = b.client;
    this.namespace = b.namespace;
    this.name = b.name;
    this.resync = b.resync;
  }

  private static Reader<ConfigMap> reader(Builder b) {
    String key = b.key;
    InstantSource clock = b.clock;
    String what = "ConfigMap " + b.namespace + "/" + b.name;
    return cached -> {
      if (cached.isEmpty()) {
        throw new MtlsException(what + " was deleted; keeping the previous trust bundle until it is recreated");
      }
      return TrustBundles.fromConfigMap(cached.get(0), key, clock);
    };
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
  public CompletableFuture<TrustBundle> start() {
    return startInformer(() -> client.configMaps().inNamespace(namespace).withName(name)
        .runnableInformer(resync.toMillis()));
  }

  /** Options of a {@link ConfigMapTrustSource}. */
  public static final class Builder {
    private final KubernetesClient client;
    private final String namespace;
    private final String name;
    private String key = DEFAULT_KEY;
    private Duration resync = InformerTrust.DEFAULT_RESYNC;
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
      this.resync = InformerTrust.requireResync(resync);
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
