package dev.kubemtls.netty.internal;

import dev.kubemtls.netty.TlsProvider;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Turns a requested {@link TlsProvider} into a Netty {@link SslProvider}, and says why once. */
public final class Providers {

  private static final Logger LOG = LoggerFactory.getLogger(Providers.class);
  private static final Set<String> ANNOUNCED = ConcurrentHashMap.newKeySet();

  private Providers() {}

  /**
   * The Netty provider for {@code requested}. OpenSSL contexts are the reference-counted kind, so
   * that a superseded context is freed as soon as its last connection ends.
   *
   * @throws IllegalStateException if OpenSSL was asked for and cannot be loaded
   */
  public static SslProvider resolve(TlsProvider requested, String side) {
    Objects.requireNonNull(requested, "provider");
    switch (requested) {
      case JDK:
        announce(side + ": using the JDK TLS provider because it was asked for");
        return SslProvider.JDK;
      case OPENSSL:
        if (!OpenSsl.isAvailable()) {
          throw new IllegalStateException("the OpenSSL TLS provider was asked for but netty-tcnative"
              + " cannot be loaded on this platform (" + OpenSsl.unavailabilityCause()
              + "); use TlsProvider.AUTO or TlsProvider.JDK", OpenSsl.unavailabilityCause());
        }
        announce(side + ": using the OpenSSL TLS provider (" + OpenSsl.versionString()
            + ") because it was asked for");
        return SslProvider.OPENSSL_REFCNT;
      case AUTO:
      default:
        if (OpenSsl.isAvailable()) {
          announce(side + ": using the OpenSSL TLS provider (" + OpenSsl.versionString()
              + "), the default where netty-tcnative loads");
          return SslProvider.OPENSSL_REFCNT;
        }
        Throwable cause = OpenSsl.unavailabilityCause();
        announce(side + ": using the JDK TLS provider because netty-tcnative is not available ("
            + (cause == null ? "unknown cause" : cause.toString()) + ")");
        return SslProvider.JDK;
    }
  }

  /** The public name of a resolved provider. */
  public static TlsProvider describe(SslProvider provider) {
    return provider == SslProvider.JDK ? TlsProvider.JDK : TlsProvider.OPENSSL;
  }

  private static void announce(String message) {
    if (ANNOUNCED.add(message)) {
      LOG.info("kube-mtls {}", message);
    } else {
      LOG.debug("kube-mtls {}", message);
    }
  }
}
