package dev.kubemtls.kubernetes;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.WeakHashMap;
import java.util.function.LongSupplier;

/**
 * What API discovery found per client: the version in which the cluster serves a kind of
 * {@link CertificatesApi}, remembered for {@link #TTL_NANOS a few minutes} so that workloads
 * started one after the other through one client (or one started again) ask the API server once,
 * not at every start. A served version changes only when the cluster is upgraded or reconfigured;
 * a workload started within the minutes after that follows the version found before, as every
 * workload already running does. Failed discoveries are not remembered. Not API.
 */
final class ServedVersions {

  /** How long a discovery's answer is used. */
  static final long TTL_NANOS = 5L * 60 * 1_000_000_000L;

  /** The JVM's cache, on the monotonic clock. */
  static final ServedVersions SHARED = new ServedVersions(System::nanoTime);

  private record Found(Optional<String> version, long atNanos) {}

  /** Client to what was found for it, per kind; weak keys (a client's entries go with it). Guarded by itself. */
  private final Map<KubernetesClient, Map<CertificatesApi.Kind, Found>> found =
      Collections.synchronizedMap(new WeakHashMap<>());
  private final LongSupplier nanoTime;

  ServedVersions(LongSupplier nanoTime) {
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
  }

  /**
   * {@link CertificatesApi#servedVersion}, asked of the API server only when this client's answer is
   * older than {@link #TTL_NANOS} or there is none.
   *
   * @throws KubernetesClientException as {@link CertificatesApi#servedVersion} does
   */
  Optional<String> servedVersion(KubernetesClient client, CertificatesApi.Kind kind) {
    Objects.requireNonNull(client, "client");
    Objects.requireNonNull(kind, "kind");
    long now = nanoTime.getAsLong();
    synchronized (found) {
      Found f = found.getOrDefault(client, Map.of()).get(kind);
      if (f != null && now - f.atNanos() < TTL_NANOS) {
        return f.version();
      }
    }
    Optional<String> version = CertificatesApi.servedVersion(client, kind);
    synchronized (found) {
      found.computeIfAbsent(client, c -> new java.util.EnumMap<>(CertificatesApi.Kind.class))
          .put(kind, new Found(version, now));
    }
    return version;
  }
}
