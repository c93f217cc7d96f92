package dev.kubemtls.core;

import dev.kubemtls.core.rotation.CertificateManager;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * A private key and the certificate chain issued for it: the material a TLS endpoint presents.
 *
 * <p>Key and chain always travel together in one immutable value, so a reader can never see a new
 * certificate with an old key. The {@code generation} grows by one with every identity a
 * {@link CertificateManager} obtains, and integrations use it to name key-manager aliases
 * ({@link #alias()}) that stay stable for as long as this identity is current.
 *
 * <p>The private key exists only in memory. {@link #toString()} never shows it.
 *
 * @param privateKey the private key, generated in this process and never written anywhere
 * @param chain      the leaf certificate first, then any intermediates, never empty
 * @param generation a positive number, larger for every later identity of the same manager
 */
public record TlsIdentity(PrivateKey privateKey, List<X509Certificate> chain, long generation) {

  public TlsIdentity {
    Objects.requireNonNull(privateKey, "privateKey");
    Objects.requireNonNull(chain, "chain");
    chain = List.copyOf(chain);
    if (chain.isEmpty()) {
      throw new IllegalArgumentException("chain must hold at least the leaf certificate");
    }
    if (generation < 1) {
      throw new IllegalArgumentException("generation must be positive, was " + generation);
    }
  }

  /** The leaf certificate: the one whose public key matches {@link #privateKey()}. */
  public X509Certificate leaf() {
    return chain.get(0);
  }

  /** The first instant at which the leaf certificate is valid. */
  public Instant notBefore() {
    return leaf().getNotBefore().toInstant();
  }

  /** The last instant at which the leaf certificate is valid. */
  public Instant notAfter() {
    return leaf().getNotAfter().toInstant();
  }

  /** A key-manager alias unique to this generation, e.g. {@code id-7}. */
  public String alias() {
    return "id-" + generation;
  }

  @Override
  public String toString() {
    X509Certificate leaf = leaf();
    return "TlsIdentity[generation=" + generation
        + ", subject=" + leaf.getSubjectX500Principal().getName()
        + ", serial=" + leaf.getSerialNumber().toString(16)
        + ", notAfter=" + notAfter()
        + ", key=" + privateKey.getAlgorithm() + " (hidden)]";
  }
}
