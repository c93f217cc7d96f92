package dev.kubemtls.spring.internal;

import dev.kubemtls.core.internal.EndingSslEngine;
import dev.kubemtls.core.internal.EngineWrappingSslContext;
import java.time.Instant;
import java.util.Objects;
import java.util.function.Supplier;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;

/**
 * The bundle's {@code createSslContext()}: the kube-mtls context, whose client engines end their
 * connection when a request starts on it after a response (a reuse) and the
 * {@link ClientConnectionBound} says it has outlived its material ({@link EndingSslEngine}); the
 * first request of a connection always goes out. For clients with no pool hook, the JDK {@code HttpClient}
 * first: it retries a request whose pooled connection ended before any response on a new
 * connection. Server engines and sockets (Apache HttpClient's, bounded by its pool instead) are the
 * delegate's. Without a bound (the starter's client bounds off) everything is the delegate's.
 */
final class BoundingSslContext {

  private BoundingSslContext() {}

  static SSLContext of(SSLContext delegate, Supplier<ClientConnectionBound> bound) {
    Objects.requireNonNull(bound, "bound");
    return new EngineWrappingSslContext(delegate, engine -> bounded(engine, bound.get()));
  }

  private static SSLEngine bounded(SSLEngine engine, ClientConnectionBound b) {
    if (b == null) {
      return engine;
    }
    Instant madeAt = b.now();
    // Asked only when a request starts on a connection that has carried a response (a reuse).
    return new EndingSslEngine(engine, e -> e.getUseClientMode() ? b.ended(e.getSession(), madeAt) : null, true);
  }
}
