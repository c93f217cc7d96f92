package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Objects;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one Jetty {@link SslContextFactory} loaded with the current snapshot of a
 * {@link MaterialSource}. Not part of the public API.
 *
 * <p>While the factory runs, the binding is subscribed to the source. Each newer snapshot is first
 * turned into key and trust stores off to the side ({@link MaterialStores} validates it); only
 * material that passed goes into {@link SslContextFactory#reload}, which swaps the SSL context
 * under Jetty's lock, so a new connection sees either the old or the new context, never none.
 * Connections already open keep the engine they were created with. If validation or the reload
 * fails, the previous material stays (the factory is reloaded with it again should Jetty have
 * dropped its context) and the failure is logged.
 */
public final class MaterialBinding {

  private static final Logger LOG = LoggerFactory.getLogger(MaterialBinding.class);
  private static final SecureRandom RANDOM = new SecureRandom();

  private final SslContextFactory factory;
  private final MaterialSource source;
  private final String role;
  private final char[] password;
  private final Object lock = new Object();

  // Guarded by lock.
  private MaterialStores applied;
  private MaterialSource.Subscription subscription;

  public MaterialBinding(SslContextFactory factory, MaterialSource source, String role) {
    this.factory = Objects.requireNonNull(factory, "factory");
    this.source = Objects.requireNonNull(source, "source");
    this.role = Objects.requireNonNull(role, "role");
    byte[] secret = new byte[24];
    RANDOM.nextBytes(secret);
    this.password = Base64.getEncoder().withoutPadding().encodeToString(secret).toCharArray();
  }

  /**
   * Runs the factory's start with the current material loaded and the subscription open. Holding
   * the lock throughout means a snapshot published during the start is applied right after it.
   *
   * @param superStart the factory's own {@code doStart}
   * @throws IllegalStateException if the source has no material yet
   */
  public void start(ThrowingRunnable superStart) throws Exception {
    synchronized (lock) {
      subscription = source.subscribe(this::onMaterial);
      try {
        MaterialStores stores = MaterialStores.of(source.current(), password);
        configure(factory, stores);
        superStart.run();
        applied = stores;
        LOG.info("TLS {} started with {}, trust {}", role, stores.material().identity(),
            stores.material().trust().sourceVersion());
      } catch (Exception | Error e) {
        subscription.close();
        subscription = null;
        throw e;
      }
    }
  }

  /** Closes the subscription, then runs the factory's stop. */
  public void stop(ThrowingRunnable superStop) throws Exception {
    synchronized (lock) {
      if (subscription != null) {
        subscription.close();
        subscription = null;
      }
      applied = null;
    }
    superStop.run();
  }

  /** The generation currently loaded, or 0 when the factory is not running. */
  public long appliedGeneration() {
    synchronized (lock) {
      return applied == null ? 0 : applied.material().generation();
    }
  }

  private void onMaterial(MtlsMaterial material) {
    synchronized (lock) {
      if (subscription == null || applied == null) {
        return; // stopped, or a start that failed
      }
      MaterialStores previous = applied;
      if (material.generation() <= previous.material().generation()) {
        return;
      }
      MaterialStores next;
      try {
        next = MaterialStores.of(material, password);
      } catch (RuntimeException e) {
        LOG.error("TLS {} refused material generation {}; keeping generation {}: {}", role,
            material.generation(), previous.material().generation(), e.getMessage());
        return;
      }
      try {
        factory.reload(f -> configure(f, next));
        applied = next;
        LOG.info("TLS {} reloaded with {}, trust {}", role, material.identity(),
            material.trust().sourceVersion());
      } catch (Exception e) {
        LOG.error("TLS {} could not reload with generation {}; restoring generation {}", role,
            material.generation(), previous.material().generation(), e);
        try {
          factory.reload(f -> configure(f, previous));
        } catch (Exception restore) {
          LOG.error("TLS {} could not restore generation {}; new connections will fail until the"
              + " next snapshot loads", role, previous.material().generation(), restore);
        }
      }
    }
  }

  private void configure(SslContextFactory f, MaterialStores stores) {
    f.setKeyStore(stores.keyStore());
    f.setKeyStorePassword(new String(password));
    f.setTrustStore(stores.trustStore());
  }

  /** A {@code doStart}/{@code doStop} body. */
  @FunctionalInterface
  public interface ThrowingRunnable {
    void run() throws Exception;
  }
}
