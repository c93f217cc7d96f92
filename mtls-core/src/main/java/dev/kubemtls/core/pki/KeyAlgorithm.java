package dev.kubemtls.core.pki;

import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.AlgorithmParameterSpec;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.RSAKeyGenParameterSpec;
import java.util.Objects;

/**
 * The kind of private key kube-mtls generates for a workload. Keys are generated in process memory
 * for every certificate request and are never written to disk, logged or sent anywhere: only the
 * public half leaves the process, inside the CSR.
 *
 * <p>{@link #EC_P256} is the default: small, fast, and accepted by every TLS stack kube-mtls
 * supports. RSA keys additionally request the {@code key encipherment} usage.
 */
public enum KeyAlgorithm {
  /** ECDSA on NIST P-256 with SHA-256 signatures. The default. */
  EC_P256("EC", new ECGenParameterSpec("secp256r1"), "SHA256withECDSA"),
  /** ECDSA on NIST P-384 with SHA-384 signatures. */
  EC_P384("EC", new ECGenParameterSpec("secp384r1"), "SHA384withECDSA"),
  /** RSA with a 2048-bit modulus and SHA-256 signatures. */
  RSA_2048("RSA", new RSAKeyGenParameterSpec(2048, RSAKeyGenParameterSpec.F4), "SHA256withRSA"),
  /** RSA with a 3072-bit modulus and SHA-256 signatures. */
  RSA_3072("RSA", new RSAKeyGenParameterSpec(3072, RSAKeyGenParameterSpec.F4), "SHA256withRSA");

  private final String jcaName;
  private final AlgorithmParameterSpec spec;
  private final String signatureAlgorithm;

  KeyAlgorithm(String jcaName, AlgorithmParameterSpec spec, String signatureAlgorithm) {
    this.jcaName = jcaName;
    this.spec = spec;
    this.signatureAlgorithm = signatureAlgorithm;
  }

  /** Whether this is an RSA algorithm (and so may encipher keys). */
  public boolean isRsa() {
    return jcaName.equals("RSA");
  }

  /** The JCA signature algorithm used to sign the CSR with a key of this kind. */
  public String signatureAlgorithm() {
    return signatureAlgorithm;
  }

  /** Generates a fresh key pair in memory. */
  public KeyPair generate(SecureRandom random) {
    Objects.requireNonNull(random, "random");
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance(jcaName);
      generator.initialize(spec, random);
      return generator.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK cannot generate " + this + " keys", e);
    }
  }
}
