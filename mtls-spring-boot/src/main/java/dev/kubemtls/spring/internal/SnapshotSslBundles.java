package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.MtlsSslContexts;
import dev.kubemtls.core.tls.TlsPolicy;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.KeyManagerFactorySpi;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.TrustManagerFactorySpi;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.ssl.SslBundleKey;
import org.springframework.boot.ssl.SslManagerBundle;
import org.springframework.boot.ssl.SslOptions;
import org.springframework.boot.ssl.SslStoreBundle;

/**
 * Makes the Spring {@link SslBundle} of one snapshot. Its stores hold that snapshot's key, chain
 * and CAs (what Spring's {@code SslInfo} and the {@code ssl.chain.expiry} metric read; the web
 * servers serve the bundle with {@link ServerTls} instead);
 * its managers are those of one kube-mtls JDK client ({@link MtlsJdkTls#keyManager()},
 * {@link MtlsJdkTls#trustManager()}), shared by every bundle of the source and following it, so an
 * SSL context made from any bundle once presents the current certificate and checks peers against
 * the current trust bundle on each new connection. {@link SslBundle#createSslContext()} is the
 * kube-mtls JDK context of the source under the policy (signature schemes and groups included),
 * shared by every bundle, whose client engines end a connection that has outlived its material at
 * its next reuse when {@link #boundClients} was given a bound. A client that builds its own context
 * from the managers gets the policy's protocols and suites only; the starter's {@code WebClientSsl} ({@link MtlsWebClientSsl}) gives
 * every WebClient connector one kube-mtls client engine instead.
 */
public final class SnapshotSslBundles {

  private final TlsPolicy policy;
  private final SslManagerBundle managers;
  private final SslOptions options;
  private final String password;
  private final javax.net.ssl.SSLContext context;
  private volatile ClientConnectionBound clientBound;

  public SnapshotSslBundles(MaterialSource source, TlsPolicy policy) {
    Objects.requireNonNull(source, "source");
    this.policy = Objects.requireNonNull(policy, "policy");
    // Any server or caller whose chain the bundle trusts; the application checks identities.
    MtlsJdkTls engine = MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(PeerPolicy.allowAll()).build();
    KeyManager[] keyManagers = {engine.keyManager()};
    TrustManager[] trustManagers = {engine.trustManager()};
    this.managers = SslManagerBundle.of(new FixedKeyManagerFactory(keyManagers),
        new FixedTrustManagerFactory(trustManagers));
    this.options = SslOptions.of(policy.cipherSuites().toArray(String[]::new),
        policy.protocols().toArray(String[]::new));
    // What createSslContext() gives (the JDK and Jetty HTTP clients of Spring Boot): the kube-mtls
    // context, whose engines follow the source and carry the policy's signature schemes and groups.
    this.context = BoundingSslContext.of(MtlsSslContexts.following(source, policy, PeerPolicy.allowAll()),
        () -> clientBound);
    // The stores never leave this process's memory; the password only satisfies the KeyStore API.
    byte[] random = new byte[16];
    new SecureRandom().nextBytes(random);
    this.password = HexFormat.of().formatHex(random);
  }

  /**
   * Bounds the client connections of {@link SslBundle#createSslContext()}'s engines (the JDK
   * {@code HttpClient}'s) by {@code bound}; null: not bounded.
   */
  public void boundClients(ClientConnectionBound bound) {
    this.clientBound = bound;
  }

  /**
   * {@code context} whose client engines are bounded as those of {@link SslBundle#createSslContext()}
   * are, by the bound {@link #boundClients} was given when each engine is made.
   */
  public javax.net.ssl.SSLContext bounding(javax.net.ssl.SSLContext context) {
    return BoundingSslContext.of(context, () -> clientBound);
  }

  /** The TLS policy whose protocols and suites the bundles carry. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The following key and trust managers every bundle shares. */
  public SslManagerBundle managers() {
    return managers;
  }

  /**
   * The bundle of {@code material}.
   *
   * @throws IllegalStateException if the JDK cannot hold the key or certificates in a PKCS#12 store
   */
  public SslBundle bundleOf(MtlsMaterial material) {
    TlsIdentity identity = material.identity();
    try {
      KeyStore keyStore = KeyStore.getInstance("PKCS12");
      keyStore.load(null, null);
      keyStore.setKeyEntry(identity.alias(), identity.privateKey(), password.toCharArray(),
          identity.chain().toArray(X509Certificate[]::new));
      KeyStore trustStore = KeyStore.getInstance("PKCS12");
      trustStore.load(null, null);
      int i = 0;
      for (X509Certificate ca : material.trust().certificates()) {
        trustStore.setCertificateEntry("ca-" + i++, ca);
      }
      return new FollowingBundle(SslBundle.of(SslStoreBundle.of(keyStore, password, trustStore),
          SslBundleKey.of(password, identity.alias()), options, "TLS", managers), context);
    } catch (GeneralSecurityException | java.io.IOException e) {
      throw new IllegalStateException("cannot put generation " + material.generation()
          + " into a PKCS#12 key store: " + e.getMessage(), e);
    }
  }

  /** Whether {@code bundle} is one made here, i.e. the kube-mtls bundle of a source. */
  public static boolean isKubeMtls(SslBundle bundle) {
    return bundle instanceof FollowingBundle;
  }

  /** A bundle whose {@link #createSslContext()} is the kube-mtls context of the source. */
  private record FollowingBundle(SslBundle delegate, javax.net.ssl.SSLContext context) implements SslBundle {
    @Override
    public SslStoreBundle getStores() {
      return delegate.getStores();
    }

    @Override
    public SslBundleKey getKey() {
      return delegate.getKey();
    }

    @Override
    public SslOptions getOptions() {
      return delegate.getOptions();
    }

    @Override
    public String getProtocol() {
      return delegate.getProtocol();
    }

    @Override
    public SslManagerBundle getManagers() {
      return delegate.getManagers();
    }

    @Override
    public javax.net.ssl.SSLContext createSslContext() {
      return context;
    }

    @Override
    public String toString() {
      return delegate.toString();
    }
  }

  private static final class FixedKeyManagerFactory extends KeyManagerFactory {
    FixedKeyManagerFactory(KeyManager[] managers) {
      super(new KeyManagerFactorySpi() {
        @Override
        protected void engineInit(KeyStore ks, char[] password) throws KeyStoreException {}

        @Override
        protected void engineInit(ManagerFactoryParameters spec) {}

        @Override
        protected KeyManager[] engineGetKeyManagers() {
          return managers.clone();
        }
      }, null, "kube-mtls");
    }
  }

  private static final class FixedTrustManagerFactory extends TrustManagerFactory {
    FixedTrustManagerFactory(TrustManager[] managers) {
      super(new TrustManagerFactorySpi() {
        @Override
        protected void engineInit(KeyStore ks) {}

        @Override
        protected void engineInit(ManagerFactoryParameters spec) {}

        @Override
        protected TrustManager[] engineGetTrustManagers() {
          return managers.clone();
        }
      }, null, "kube-mtls");
    }
  }
}
