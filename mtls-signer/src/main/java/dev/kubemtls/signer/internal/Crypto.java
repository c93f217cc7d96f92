package dev.kubemtls.signer.internal;

import java.io.ByteArrayInputStream;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Objects;
import org.bouncycastle.asn1.x509.SubjectKeyIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JCA providers for the signer's per-request crypto: verifying a request's signature and signing
 * a certificate.
 *
 * <p>When Amazon Corretto Crypto Provider (ACCP, AWS-LC) is on the class path and healthy, both run
 * in its native code ({@link #NATIVE}): a P-256 verification and signature cost a fraction of
 * BouncyCastle's pure-Java arithmetic (see {@code CsrVerifyBenchmark} in the benchmarks module). The
 * instance is used directly and never registered with {@link java.security.Security}, so an
 * application that embeds the signer keeps its providers, and ACCP's presence changes nothing else
 * in the JVM (the program {@code SignerMain} registers it for its own JVM's TLS, see
 * {@code SignerMain.installNativeTls}). The system property {@value #NATIVE_PROPERTY}{@code =false}
 * turns both off. Without ACCP
 * (another platform, or a class path without it), BouncyCastle's provider ({@link #PROVIDER}) does the
 * work, as before: on Java 17 it verifies an ECDSA P-256 signature about four times and signs about
 * twice as fast as the JDK's SunEC.
 *
 * <p>Parsing (PKCS#10, SubjectPublicKeyInfo, certificates) stays with BouncyCastle's ASN.1 code and the
 * request rules in every case; only the signature arithmetic moves.
 */
public final class Crypto {

  private static final Logger LOG = LoggerFactory.getLogger(Crypto.class);

  /** Set to {@code false} to keep the signer's crypto in BouncyCastle even when ACCP is present. */
  public static final String NATIVE_PROPERTY = "kube-mtls.signer.native-crypto";

  /** ACCP's provider class. */
  static final String ACCP_CLASS = "com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider";

  /** One instance for the process: building a provider is costly, using it is thread-safe. */
  public static final Provider PROVIDER = new BouncyCastleProvider();

  /** ACCP when it is present, healthy and not switched off; otherwise null. */
  public static final Provider NATIVE = loadNative();

  private Crypto() {}

  /** What signs the certificates: the provider and the CA key in that provider's key class. */
  public record SigningKey(Provider provider, PrivateKey key) {
    public SigningKey {
      Objects.requireNonNull(provider, "provider");
      Objects.requireNonNull(key, "key");
    }
  }

  /** Which provider does the signer's signature arithmetic, for logs and metrics. */
  public static String describe() {
    return NATIVE != null ? NATIVE.getName() + " " + NATIVE.getVersionStr() + " (native)"
        : PROVIDER.getName() + " " + PROVIDER.getVersionStr();
  }

  /**
   * The key to sign with. With {@link #NATIVE}, an EC or RSA key is decoded once into ACCP's key class
   * from its PKCS#8 encoding. Otherwise an EC key is translated once into BouncyCastle's own key class:
   * BouncyCastle keeps the precomputed multiples of the curve's generator with its key's parameters;
   * handed a JDK key it converts the parameters on every signature and computes them again, which made
   * a P-256 signature about three times as costly (79 against 236 µs, {@code CsrVerifyBenchmark}).
   * Other keys are kept as they are, with BouncyCastle's provider.
   */
  public static SigningKey signingKey(PrivateKey key) {
    Objects.requireNonNull(key, "key");
    if (NATIVE != null && (key instanceof ECPrivateKey || key instanceof RSAPrivateKey) && key.getEncoded() != null) {
      try {
        PrivateKey translated = KeyFactory.getInstance(key.getAlgorithm(), NATIVE)
            .generatePrivate(new PKCS8EncodedKeySpec(key.getEncoded()));
        return new SigningKey(NATIVE, translated);
      } catch (GeneralSecurityException | RuntimeException e) {
        LOG.debug("the CA key stays with BouncyCastle: {}", e.toString());
      }
    }
    if (!(key instanceof ECPrivateKey)) {
      return new SigningKey(PROVIDER, key);
    }
    try {
      return new SigningKey(PROVIDER, (PrivateKey) KeyFactory.getInstance("EC", PROVIDER).translateKey(key));
    } catch (GeneralSecurityException e) {
      return new SigningKey(PROVIDER, key);
    }
  }

  /**
   * The request's key decoded by {@link #NATIVE} from its SubjectPublicKeyInfo DER, for a verification
   * there; null without ACCP or when ACCP does not take the key (the caller then verifies with
   * BouncyCastle).
   */
  static PublicKey nativePublicKey(String algorithm, byte[] subjectPublicKeyInfo) {
    if (NATIVE == null) {
      return null;
    }
    try {
      return KeyFactory.getInstance(algorithm, NATIVE).generatePublic(new X509EncodedKeySpec(subjectPublicKeyInfo));
    } catch (GeneralSecurityException | RuntimeException e) {
      return null;
    }
  }

  /** The JDK's X.509 certificate factory, one per thread (getting one per certificate costs a provider lookup). */
  private static final ThreadLocal<CertificateFactory> X509 = ThreadLocal.withInitial(() -> {
    try {
      return CertificateFactory.getInstance("X.509");
    } catch (CertificateException e) {
      throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
    }
  });

  /** A certificate the CA just signed, as the JDK's {@link X509Certificate}. */
  public static X509Certificate certificate(byte[] der) throws CertificateException {
    return (X509Certificate) X509.get().generateCertificate(new ByteArrayInputStream(der));
  }

  /**
   * The subject key identifier of a key: the SHA-1 hash of its subjectPublicKey bits (RFC 5280
   * 4.2.1.2, method 1), as BouncyCastle's {@code X509ExtensionUtils} computes it.
   */
  public static SubjectKeyIdentifier subjectKeyIdentifier(SubjectPublicKeyInfo key) throws GeneralSecurityException {
    return new SubjectKeyIdentifier(MessageDigest.getInstance("SHA-1").digest(key.getPublicKeyData().getBytes()));
  }

  private static Provider loadNative() {
    if ("false".equalsIgnoreCase(System.getProperty(NATIVE_PROPERTY, "true").trim())) {
      LOG.info("native crypto switched off ({}=false): the signer verifies and signs with BouncyCastle",
          NATIVE_PROPERTY);
      return null;
    }
    Class<?> type;
    try {
      type = Class.forName(ACCP_CLASS, true, Crypto.class.getClassLoader());
    } catch (ClassNotFoundException | LinkageError e) {
      LOG.debug("AmazonCorrettoCryptoProvider is not on the class path: the signer verifies and signs with"
          + " BouncyCastle");
      return null;
    }
    try {
      Provider provider = (Provider) type.getField("INSTANCE").get(null);
      Throwable loading = (Throwable) type.getMethod("getLoadingError").invoke(provider);
      if (loading != null) {
        LOG.info("AmazonCorrettoCryptoProvider's native library did not load on {}/{} ({}): the signer verifies"
            + " and signs with BouncyCastle", System.getProperty("os.name"), System.getProperty("os.arch"),
            loading.toString());
        return null;
      }
      // Its self-tests: a provider that fails them is not used.
      type.getMethod("assertHealthy").invoke(provider);
      return provider;
    } catch (java.lang.reflect.InvocationTargetException e) {
      LOG.warn("AmazonCorrettoCryptoProvider is not healthy ({}): the signer verifies and signs with BouncyCastle",
          String.valueOf(e.getCause()));
      return null;
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      LOG.warn("AmazonCorrettoCryptoProvider could not be loaded ({}): the signer verifies and signs with"
          + " BouncyCastle", e.toString());
      return null;
    }
  }
}
