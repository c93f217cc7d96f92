package dev.kubemtls.signer.internal;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.interfaces.ECPrivateKey;
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

  /**
   * The key to sign with: an EC key as BouncyCastle's own key class, translated once. BouncyCastle
   * keeps the precomputed multiples of the curve's generator with its key's parameters; handed a
   * JDK key it converts the parameters on every signature and computes them again, which made a
   * P-256 signature about three times as costly (79 against 236 µs, {@code CsrVerifyBenchmark}).
   * Other keys are returned as they are.
   */
  public static PrivateKey signingKey(PrivateKey key) {
    if (!(key instanceof ECPrivateKey)) {
      return key;
    }
    try {
      return (PrivateKey) KeyFactory.getInstance("EC", PROVIDER).translateKey(key);
    } catch (GeneralSecurityException e) {
      return key;
    }
  }
}
