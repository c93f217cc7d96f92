package dev.kubemtls.grpc.internal;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Resolves the requested TLS implementation to a Netty provider, and says why once. */
public final class Providers {

  private static final Logger LOG = LoggerFactory.getLogger(Providers.class);
  private static final Set<String> ANNOUNCED = ConcurrentHashMap.newKeySet();

  private Providers() {}

  /**
   * @param requested {@code AUTO}, {@code OPENSSL} or {@code JDK}
   * @throws IllegalStateException if OpenSSL was asked for and netty-tcnative cannot be loaded
   */
  public static SslProvider resolve(String requested, String side) {
    switch (requested) {
      case "JDK":
        announce(side + ": using the JDK TLS provider because it was asked for");
        return SslProvider.JDK;
      case "OPENSSL":
        if (!OpenSsl.isAvailable()) {
          throw new IllegalStateException("the OpenSSL TLS provider was asked for but netty-tcnative"
              + " cannot be loaded on this platform (" + OpenSsl.unavailabilityCause()
              + "); use TlsProvider.AUTO or TlsProvider.JDK", OpenSsl.unavailabilityCause());
        }
        announce(side + ": using the OpenSSL TLS provider (" + OpenSsl.versionString()
            + ") because it was asked for");
        return SslProvider.OPENSSL_REFCNT;
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

  private static void announce(String message) {
    if (ANNOUNCED.add(message)) {
      LOG.info("kube-mtls gRPC {}", message);
    } else {
      LOG.debug("kube-mtls gRPC {}", message);
    }
  }
}
