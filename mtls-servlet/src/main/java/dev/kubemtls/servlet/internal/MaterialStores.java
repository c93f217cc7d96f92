package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * Turns one {@link MtlsMaterial} snapshot into in-memory key and trust stores, after checking that
 * the snapshot can serve TLS at all. Nothing is written to disk. Not part of the public API.
 *
 * <p>The key store holds exactly one key entry, named by {@link TlsIdentity#alias()}, so key and
 * chain always come from the same snapshot.
 */
public final class MaterialStores {

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final byte[] PROBE = "kube-mtls key check".getBytes(StandardCharsets.US_ASCII);

  private final KeyStore keyStore;
  private final KeyStore trustStore;
  private final char[] password;
  private final MtlsMaterial material;

  private MaterialStores(MtlsMaterial material, KeyStore keyStore, KeyStore trustStore, char[] password) {
    this.material = material;
    this.keyStore = keyStore;
    this.trustStore = trustStore;
    this.password = password;
  }

  /**
   * Validates {@code material} and builds its stores.
   *
   * @param password protects the key entry inside the in-memory store; the caller keeps it
   * @throws InvalidMaterialException if the key does not match the leaf certificate, the chain is
   *     out of order, a trust anchor is not a CA, or the JDK refuses the key or certificates
   */
  public static MaterialStores of(MtlsMaterial material, char[] password) {
    Objects.requireNonNull(material, "material");
    Objects.requireNonNull(password, "password");
    checkIdentity(material.identity());
    checkTrust(material.trust());
    try {
      KeyStore keys = KeyStore.getInstance("PKCS12");
      keys.load(null, null);
      TlsIdentity id = material.identity();
      keys.setKeyEntry(id.alias(), id.privateKey(), password,
          id.chain().toArray(X509Certificate[]::new));
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      List<X509Certificate> cas = material.trust().certificates();
      for (int i = 0; i < cas.size(); i++) {
        trust.setCertificateEntry("ca-" + i, cas.get(i));
      }
      MaterialStores stores = new MaterialStores(material, keys, trust, password);
      // Fails here, not inside a running connector, if the JDK cannot use the material.
      stores.keyManagers();
      stores.trustManagers();
      return stores;
    } catch (GeneralSecurityException | IOException e) {
      throw new InvalidMaterialException("TLS material generation " + material.generation()
          + " cannot be loaded into a key store: " + e.getMessage(), e);
    }
  }

  /**
   * Validates {@code material} and builds its stores under a random key-entry password.
   *
   * @throws InvalidMaterialException as {@link #of(MtlsMaterial, char[])}
   */
  public static MaterialStores of(MtlsMaterial material) {
    char[] password = new char[20];
    for (int i = 0; i < password.length; i++) {
      password[i] = (char) ('a' + RANDOM.nextInt(26));
    }
    return of(material, password);
  }

  /** A new JDK TLS context over these stores. */
  public SSLContext newSslContext() {
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(keyManagers(), trustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new InvalidMaterialException("could not build an SSLContext from material generation "
          + material.generation() + ": " + e.getMessage(), e);
    }
  }

  public MtlsMaterial material() {
    return material;
  }

  public KeyStore keyStore() {
    return keyStore;
  }

  public KeyStore trustStore() {
    return trustStore;
  }

  /** Key managers over the key store (SunX509 or the JDK default algorithm). */
  public KeyManager[] keyManagers() throws GeneralSecurityException {
    KeyManagerFactory f = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    f.init(keyStore, password);
    return f.getKeyManagers();
  }

  /** PKIX trust managers over the trust store. */
  public TrustManager[] trustManagers() throws GeneralSecurityException {
    TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    f.init(trustStore);
    return f.getTrustManagers();
  }

  private static void checkIdentity(TlsIdentity id) {
    List<X509Certificate> chain = id.chain();
    PrivateKey key = id.privateKey();
    PublicKey leafKey = id.leaf().getPublicKey();
    if (id.leaf().getBasicConstraints() >= 0) {
      throw new InvalidMaterialException("the leaf certificate of identity generation " + id.generation()
          + " is a CA certificate; a workload certificate must have basicConstraints CA=false");
    }
    String algorithm = signatureAlgorithm(key, id);
    try {
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(PROBE);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(leafKey);
      verifier.update(PROBE);
      if (!verifier.verify(signature)) {
        throw new InvalidMaterialException("the private key of identity generation " + id.generation()
            + " does not match its leaf certificate (serial "
            + id.leaf().getSerialNumber().toString(16) + ")");
      }
    } catch (GeneralSecurityException e) {
      throw new InvalidMaterialException("the private key of identity generation " + id.generation()
          + " does not match its leaf certificate: " + e.getMessage(), e);
    }
    for (int i = 0; i + 1 < chain.size(); i++) {
      X509Certificate child = chain.get(i);
      X509Certificate parent = chain.get(i + 1);
      try {
        child.verify(parent.getPublicKey());
      } catch (GeneralSecurityException e) {
        throw new InvalidMaterialException("certificate " + i + " of the chain of identity generation "
            + id.generation() + " is not signed by certificate " + (i + 1)
            + ": order the chain leaf first, then each issuer", e);
      }
    }
  }

  private static String signatureAlgorithm(PrivateKey key, TlsIdentity id) {
    return switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      default -> throw new InvalidMaterialException("identity generation " + id.generation()
          + " has a " + key.getAlgorithm() + " key; kube-mtls supports EC, RSA and Ed25519 keys");
    };
  }

  private static void checkTrust(TrustBundle trust) {
    for (X509Certificate ca : trust.certificates()) {
      if (ca.getBasicConstraints() < 0) {
        throw new InvalidMaterialException("trust bundle " + trust.sourceVersion() + " holds "
            + ca.getSubjectX500Principal().getName() + ", which is not a CA certificate");
      }
    }
  }
}
