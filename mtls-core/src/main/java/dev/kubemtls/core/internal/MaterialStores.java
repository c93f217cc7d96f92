package dev.kubemtls.core.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import java.io.IOException;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * JDK {@link SSLContext}s from one {@link MtlsMaterial} snapshot, after checking that the snapshot
 * can serve TLS at all. The key lives in an in-memory key store under a random password, as the
 * single entry {@link TlsIdentity#alias()}, so key and chain always come from the same snapshot.
 * Nothing is written to disk.
 */
public final class MaterialStores {

  private static final SecureRandom RANDOM = new SecureRandom();

  private MaterialStores() {}

  /**
   * A context that presents {@code material}'s identity and checks peers with {@code trust}.
   *
   * @throws InvalidMaterialException if {@link MtlsMaterial#validate()} refuses the material, or the
   *     JDK refuses the key or certificates
   */
  public static SSLContext newSslContext(MtlsMaterial material, X509ExtendedTrustManager trust) {
    Objects.requireNonNull(material, "material");
    Objects.requireNonNull(trust, "trust");
    material.validate();
    try {
      char[] password = new char[20];
      for (int i = 0; i < password.length; i++) {
        password[i] = (char) ('a' + RANDOM.nextInt(26));
      }
      KeyStore keys = KeyStore.getInstance("PKCS12");
      keys.load(null, null);
      TlsIdentity id = material.identity();
      keys.setKeyEntry(id.alias(), id.privateKey(), password, id.chain().toArray(X509Certificate[]::new));
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(keys, password);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), new TrustManager[] {trust}, null);
      return context;
    } catch (GeneralSecurityException | IOException e) {
      throw new InvalidMaterialException("TLS material generation " + material.generation()
          + " cannot be loaded into a JDK TLS context: " + e.getMessage(), e);
    }
  }

  /**
   * A context for the time before the first snapshot: it has no key, so a server cannot complete a
   * handshake, and it refuses every peer certificate with {@code reason}, so a client cannot either.
   */
  public static SSLContext withoutMaterial(String reason) {
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(new KeyManager[0], new TrustManager[] {new RefuseAll(reason)}, null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK cannot make a TLS context: " + e.getMessage(), e);
    }
  }

  /** A trust manager that refuses every peer certificate with {@code reason}. */
  public static X509ExtendedTrustManager refuseAll(String reason) {
    return new RefuseAll(reason);
  }

  private static final class RefuseAll extends X509ExtendedTrustManager {
    private final String reason;

    RefuseAll(String reason) {
      this.reason = reason;
    }

    private CertificateException refuse() {
      return new CertificateException(reason);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      throw refuse();
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      throw refuse();
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      throw refuse();
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      throw refuse();
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      throw refuse();
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      throw refuse();
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }
}
