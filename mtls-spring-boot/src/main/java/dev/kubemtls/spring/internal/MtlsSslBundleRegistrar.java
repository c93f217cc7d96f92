package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.boot.autoconfigure.ssl.SslBundleRegistrar;
import org.springframework.boot.ssl.SslBundleRegistry;

/**
 * Registers the source's SSL bundle under its name and replaces it through
 * {@link SslBundleRegistry#updateBundle} on each new snapshot, on one thread of its own and in
 * order, so that Spring's bundle update handlers (Tomcat and Reactor Netty reload their TLS
 * configuration there) never run on the source's publishing thread. Registration waits for the
 * first snapshot, so the web server starts with material.
 */
public final class MtlsSslBundleRegistrar implements SslBundleRegistrar, DisposableBean {

  private static final Logger LOG = LoggerFactory.getLogger(MtlsSslBundleRegistrar.class);

  private final MaterialSource source;
  private final SnapshotSslBundles bundles;
  private final String name;
  private final Duration startupTimeout;
  private final ExecutorService updates = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "kube-mtls-bundle-updates");
    t.setDaemon(true);
    return t;
  });
  private volatile MaterialSource.Subscription subscription;
  private volatile long registeredGeneration;

  public MtlsSslBundleRegistrar(MaterialSource source, SnapshotSslBundles bundles, String name,
      Duration startupTimeout) {
    this.source = Objects.requireNonNull(source, "source");
    this.bundles = Objects.requireNonNull(bundles, "bundles");
    this.name = Objects.requireNonNull(name, "name");
    this.startupTimeout = Objects.requireNonNull(startupTimeout, "startupTimeout");
  }

  /** The generation of the snapshot the registered bundle holds, 0 before registration. */
  public long registeredGeneration() {
    return registeredGeneration;
  }

  @Override
  public void registerBundles(SslBundleRegistry registry) {
    MtlsMaterial first = awaitFirst(source, startupTimeout);
    registry.registerBundle(name, bundles.bundleOf(first));
    registeredGeneration = first.generation();
    LOG.info("SSL bundle '{}' registered with {}", name, first.identity());
    subscription = source.subscribe(m -> updates.execute(() -> update(registry, m)));
    // A snapshot published between the first read and the subscription is not missed.
    MtlsMaterial now = source.current();
    if (now.generation() != first.generation()) {
      updates.execute(() -> update(registry, now));
    }
  }

  private void update(SslBundleRegistry registry, MtlsMaterial material) {
    if (material.generation() <= registeredGeneration) {
      return;
    }
    try {
      registry.updateBundle(name, bundles.bundleOf(material));
      registeredGeneration = material.generation();
      LOG.info("SSL bundle '{}' updated to generation {}: {}", name, material.generation(), material.identity());
    } catch (RuntimeException e) {
      // The servers keep the bundle they have; the following managers already use the new snapshot.
      LOG.warn("SSL bundle '{}' not updated to generation {}: {}", name, material.generation(), e.toString(), e);
    }
  }

  /**
   * Waits until {@code source} has its first snapshot.
   *
   * @throws IllegalStateException if none arrives within {@code timeout}, naming the source's last
   *     error where it reports one
   */
  public static MtlsMaterial awaitFirst(MaterialSource source, Duration timeout) {
    if (source instanceof dev.kubemtls.kubernetes.KubeMtls tls) {
      // Its own wait ends at once on a denial no retry can change, and says where issuance stands.
      try {
        return tls.awaitReady(timeout);
      } catch (dev.kubemtls.core.CertificateDeniedException e) {
        throw e;
      } catch (dev.kubemtls.core.MtlsException e) {
        throw new dev.kubemtls.core.MtlsException(e.getMessage() + " (kube-mtls.startup-timeout)", e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the first certificate", e);
      }
    }
    CountDownLatch arrived = new CountDownLatch(1);
    try (MaterialSource.Subscription s = source.subscribe(m -> arrived.countDown())) {
      if (source.currentIfReady().isEmpty() && !arrived.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        String why = source instanceof dev.kubemtls.core.rotation.Health h
            ? h.lastError().map(e -> ": " + e.getMessage()).orElse("") : "";
        throw new IllegalStateException("kube-mtls: no certificate within " + timeout
            + " (kube-mtls.startup-timeout)" + why + ". Source: " + source);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the first certificate", e);
    }
    return source.current();
  }

  @Override
  public void destroy() {
    MaterialSource.Subscription s = subscription;
    if (s != null) {
      s.close();
    }
    updates.shutdownNow();
  }
}
