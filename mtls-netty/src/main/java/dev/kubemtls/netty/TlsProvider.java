package dev.kubemtls.netty;

/**
 * Which TLS implementation terminates the connections.
 *
 * <p>{@link #AUTO} picks OpenSSL (BoringSSL through netty-tcnative) when its native library loads on
 * this platform and falls back to the JDK's own TLS otherwise; the choice and its reason are logged
 * once. Both providers verify peers with the same trust bundle and enforce the same protocols and
 * cipher suites, so the choice only changes speed and memory, never who is accepted.
 */
public enum TlsProvider {
  /** OpenSSL when available, else the JDK. The default. */
  AUTO,
  /** OpenSSL (BoringSSL); {@code build()} fails if netty-tcnative cannot be loaded. */
  OPENSSL,
  /** The JDK's TLS implementation (SunJSSE). */
  JDK
}
