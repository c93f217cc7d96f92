package dev.kubemtls.kubernetes;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.impl.KubernetesClientImpl;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The view of a workload's client through which {@link KubeMtls} watches its CertificateSigningRequest
 * and follows the ClusterTrustBundles it shares with the JVM's other workloads: the same HTTP client
 * (its connections, authentication and interceptors), configuration, executor and serialization, with
 * {@code onlyHttpWatches} set, so that those watches are streams on the HTTP/2 connection the client
 * already has open instead of WebSockets. With fabric8's JDK HTTP client each WebSocket is a TCP
 * connection and a TLS handshake of its own (an ECDHE key exchange and a certificate chain check);
 * two of them per start were about a quarter of the CPU a workload spent until it was ready, and a
 * shared trust watch held a connection with its buffers for as long as it ran. A client that
 * already watches over HTTP only, or that is not fabric8's own implementation, is used as it is.
 *
 * <p>One view per client, kept as long as the client is reachable; it is never closed (closing it
 * would close the caller's HTTP client; the caller's client stays the caller's to close). Watches
 * that live as long as a workload, one per workload (its own bundle ConfigMap), stay on the
 * caller's client, so that many workloads on one client do not use up the API server's concurrent
 * streams of one HTTP/2 connection. Not API.
 */
final class HttpWatchClients {

  private static final Logger LOG = LoggerFactory.getLogger(HttpWatchClients.class);

  /** Client to its view; weak keys, and a view does not refer to its client. Guarded by itself. */
  private static final Map<KubernetesClient, KubernetesClient> VIEWS = Collections.synchronizedMap(new WeakHashMap<>());

  private HttpWatchClients() {}

  /** {@code client}'s view that watches over HTTP only (see the class documentation). */
  static KubernetesClient of(KubernetesClient client) {
    Objects.requireNonNull(client, "client");
    Config config = client.getConfiguration();
    if (config == null || Boolean.TRUE.equals(config.getOnlyHttpWatches())
        || !(client instanceof KubernetesClientImpl impl)) {
      return client;
    }
    synchronized (VIEWS) {
      KubernetesClient view = VIEWS.get(client);
      if (view == null) {
        view = view(impl, config);
        if (view != client) { // a value referring to its key would keep the entry forever
          VIEWS.put(client, view);
        }
      }
      return view;
    }
  }

  private static KubernetesClient view(KubernetesClientImpl client, Config config) {
    try {
      // A copy of the effective configuration as it is (not configured anew from files and environment).
      Config httpWatches = new ConfigBuilder(config).withAutoConfigure(false).withOnlyHttpWatches(true).build();
      Executor executor = client.getExecutor();
      return new KubernetesClientImpl(client.getHttpClient(), httpWatches, () -> executor,
          client.getKubernetesSerialization());
    } catch (RuntimeException e) {
      // The view is an optimization: whatever keeps it from being made, the client itself still works.
      LOG.debug("watching over WebSockets: no HTTP-watch view of the client could be made", e);
      return client;
    }
  }
}
