package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
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
   * @throws InvalidMaterialException if {@link MtlsMaterial#validate()} refuses the material (key
   *     not matching the leaf, leaf a CA, chain out of order, a trust anchor not a CA), or the JDK
   *     refuses the key or certificates
   */
  public static MaterialStores of(MtlsMaterial material, char[] password) {
    Objects.requireNonNull(material, "material");
    Objects.requireNonNull(password, "password");
    material.validate();
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
}
