package dev.kubemtls.core;

import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * The certificate authorities a workload trusts: the Java counterpart of Go's
 * {@code tls.Config.RootCAs}.
 *
 * <p>A bundle usually comes from a ConfigMap that the signer publishes. During a CA rotation it
 * holds both the old and the new CA, so peers with certificates from either are accepted. A bundle
 * is immutable; a change to the ConfigMap produces a new bundle with a new {@code sourceVersion}.
 *
 * @param certificates  the CA certificates, never empty, each one a CA
 * @param sourceVersion where the bundle came from and which version of it (for a ConfigMap,
 *                      {@code namespace/name@resourceVersion}); informational only
 * @param ignored       what the source held but the bundle does not trust, and why (an expired
 *                      CA that a rotation has not removed yet); empty when nothing was left out
 */
public record TrustBundle(List<X509Certificate> certificates, String sourceVersion, List<String> ignored) {

  public TrustBundle {
    Objects.requireNonNull(certificates, "certificates");
    Objects.requireNonNull(sourceVersion, "sourceVersion");
    certificates = List.copyOf(certificates);
    ignored = List.copyOf(Objects.requireNonNull(ignored, "ignored"));
    if (certificates.isEmpty()) {
      throw new IllegalArgumentException("a trust bundle needs at least one CA certificate");
    }
  }

  /** A bundle of {@code certificates} from which nothing was left out. */
  public TrustBundle(List<X509Certificate> certificates, String sourceVersion) {
    this(certificates, sourceVersion, List.of());
  }

  /**
   * A PKIX trust manager that accepts chains ending in one of this bundle's CAs. A new trust
   * manager is built on every call; callers that need one per bundle should keep it.
   */
  public X509TrustManager trustManager() {
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      int i = 0;
      for (X509Certificate ca : certificates) {
        store.setCertificateEntry("ca-" + i++, ca);
      }
      TrustManagerFactory factory =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(store);
      for (TrustManager tm : factory.getTrustManagers()) {
        if (tm instanceof X509TrustManager x509) {
          return x509;
        }
      }
      throw new IllegalStateException("the JDK offered no X509TrustManager");
    } catch (java.security.GeneralSecurityException | java.io.IOException e) {
      throw new IllegalStateException("could not build a trust manager from the bundle", e);
    }
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder("TrustBundle[").append(sourceVersion).append(", cas=");
    for (int i = 0; i < certificates.size(); i++) {
      X509Certificate c = certificates.get(i);
      sb.append(i == 0 ? "" : "; ").append(c.getSubjectX500Principal().getName())
          .append(" serial=").append(c.getSerialNumber().toString(16))
          .append(" notAfter=").append(c.getNotAfter().toInstant());
    }
    if (!ignored.isEmpty()) {
      sb.append(", ignored=").append(ignored.size());
    }
    return sb.append(']').toString();
  }
}
