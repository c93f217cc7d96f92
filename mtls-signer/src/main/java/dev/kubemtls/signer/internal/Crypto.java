package dev.kubemtls.signer.internal;

import java.security.Provider;
import org.bouncycastle.jce.provider.BouncyCastleProvider;

/**
 * The JCA provider for the signer's per-request crypto: verifying a request's signature and signing
 * a certificate. BouncyCastle's, because on Java 17 it verifies an ECDSA P-256 signature about four
 * times and signs about twice as fast as the JDK's SunEC (see {@code CsrVerifyBenchmark} in the
 * benchmarks module). The instance is private to the signer: it is never registered with
 * {@link java.security.Security}, so an application that embeds the signer keeps its providers.
 */
public final class Crypto {

  /** One instance for the process: building a provider is costly, using it is thread-safe. */
  public static final Provider PROVIDER = new BouncyCastleProvider();

  private Crypto() {}
}
