package dev.kubemtls.servlet;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.servlet.internal.FollowingSslContextSpi;
import dev.kubemtls.servlet.internal.MaterialStores;
import dev.kubemtls.servlet.internal.TlsDefaults;
import java.security.Provider;
import java.util.Objects;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * JDK {@link SSLContext}s from kube-mtls material, for TLS users that are not Jetty, such as
 * {@code java.net.http.HttpClient} or {@code HttpsURLConnection}.
 *
 * <p>{@link #of(MtlsMaterial)} makes a fixed context: it presents that snapshot's certificate and
 * trusts that snapshot's bundle for as long as it is used. {@link #following(MaterialSource)} makes
 * a context that follows the source: each new connection (engine or socket) takes the snapshot that
 * is current when it is created, while established connections keep theirs. Pair a context with
 * {@link #sslParameters()} to get the same protocol and cipher policy as the Jetty integrations.
 *
 * <pre>{@code
 * HttpClient client = HttpClient.newBuilder()
 *     .sslContext(MtlsSslContexts.following(manager))
 *     .sslParameters(MtlsSslContexts.sslParameters())
 *     .build();
 * }</pre>
 */
public final class MtlsSslContexts {

  private MtlsSslContexts() {}

  /**
   * A TLS context that presents {@code material}'s identity and trusts its bundle.
   *
   * @throws InvalidMaterialException if the key does not match the certificate, the chain is out of
   *     order or a trust anchor is not a CA
   */
  public static SSLContext of(MtlsMaterial material) {
    Objects.requireNonNull(material, "material");
    return MaterialStores.of(material).newSslContext();
  }

  /**
   * A TLS context that follows {@code source}. The current snapshot is validated now; a later
   * snapshot is validated when the first connection after it is made, and if it fails the previous
   * one stays in use and the failure is logged. Each snapshot gets its own JDK context, so cached
   * TLS sessions are not resumed across a renewal or trust change. The context cannot be
   * {@linkplain SSLContext#init initialized} again. A JDK {@code HttpClient} keeps pooled
   * connections open across renewals; new connections present the new certificate.
   *
   * @throws IllegalStateException if the source has no material yet
   * @throws InvalidMaterialException if the current material is unusable
   */
  public static SSLContext following(MaterialSource source) {
    FollowingSslContextSpi spi = new FollowingSslContextSpi(Objects.requireNonNull(source, "source"));
    return new FollowingSslContext(spi, spi.context().getProvider());
  }

  private static final class FollowingSslContext extends SSLContext {
    FollowingSslContext(FollowingSslContextSpi spi, Provider provider) {
      super(spi, provider, "TLS");
    }
  }

  /**
   * Fresh parameters with kube-mtls's protocol and cipher policy (TLS 1.3 and 1.2, ECDHE with AEAD
   * ciphers only) and HTTPS endpoint identification, so a client checks that the server's
   * certificate names the host or IP address it dialled.
   */
  public static SSLParameters sslParameters() {
    SSLParameters parameters = new SSLParameters(
        TlsDefaults.CIPHER_SUITES.toArray(String[]::new), TlsDefaults.PROTOCOLS.toArray(String[]::new));
    parameters.setEndpointIdentificationAlgorithm("HTTPS");
    parameters.setUseCipherSuitesOrder(true);
    return parameters;
  }
}
