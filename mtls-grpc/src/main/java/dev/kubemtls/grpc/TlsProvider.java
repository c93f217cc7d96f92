package dev.kubemtls.grpc;

/**
 * Which TLS implementation terminates the gRPC connections.
 *
 * <p>{@link #AUTO} picks OpenSSL (BoringSSL through netty-tcnative) when its native library loads on
 * this platform and falls back to the JDK's own TLS otherwise; the choice and its reason are logged
 * once. Both verify peers against the same trust bundle with the same protocols and cipher suites.
 */
public enum TlsProvider {
  /** OpenSSL when available, else the JDK. The default. */
  AUTO,
  /** OpenSSL (BoringSSL); {@code build()} fails if netty-tcnative cannot be loaded. */
  OPENSSL,
  /** The JDK's TLS implementation (SunJSSE). */
  JDK
}
