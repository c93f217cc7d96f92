package dev.kubemtls.grpc.internal;

import io.netty.handler.ssl.OpenSslCachingX509KeyManagerFactory;
import java.security.KeyStore;
import java.security.Provider;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.KeyManagerFactorySpi;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.X509ExtendedKeyManager;

/** A key manager as the caching factory Netty's OpenSSL contexts take, so a key is encoded once per alias. */
final class KeyManagers {

  private static final Provider PROVIDER = new Provider("kube-mtls", "1", "kube-mtls key managers") {
    private static final long serialVersionUID = 1L;
  };

  private KeyManagers() {}

  static KeyManagerFactory caching(X509ExtendedKeyManager manager) {
    KeyManagerFactorySpi spi = new KeyManagerFactorySpi() {
      @Override
      protected void engineInit(KeyStore ks, char[] password) {
        // the manager is fixed
      }

      @Override
      protected void engineInit(ManagerFactoryParameters spec) {
        // the manager is fixed
      }

      @Override
      protected KeyManager[] engineGetKeyManagers() {
        return new KeyManager[] {manager};
      }
    };
    return new OpenSslCachingX509KeyManagerFactory(new KeyManagerFactory(spi, PROVIDER, "kube-mtls") { });
  }
}
