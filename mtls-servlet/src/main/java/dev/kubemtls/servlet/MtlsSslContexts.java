package dev.kubemtls.servlet;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.servlet.internal.MaterialStores;
import dev.kubemtls.servlet.internal.TlsDefaults;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Objects;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;

/**
 * JDK {@link SSLContext}s built from one {@link MtlsMaterial} snapshot, for clients that are not
 * Jetty's, such as {@code java.net.http.HttpClient}.
 *
 * <p>A context built here is fixed: it presents the snapshot's certificate and trusts the
 * snapshot's bundle for as long as it is used. After a renewal, build a new context (and a new JDK
 * {@code HttpClient}) from the new snapshot; for Jetty, prefer {@link JettyMtls}, whose server
 * connectors and clients follow renewals by themselves. Pair a context with
 * {@link #sslParameters()} to get the same protocol and cipher policy as the Jetty integrations.
 */
public final class MtlsSslContexts {

  private static final SecureRandom RANDOM = new SecureRandom();

  private MtlsSslContexts() {}

  /**
   * A TLS context that presents {@code material}'s identity and trusts its bundle.
   *
   * @throws InvalidMaterialException if the key does not match the certificate, the chain is out of
   *     order or a trust anchor is not a CA
   */
  public static SSLContext of(MtlsMaterial material) {
    Objects.requireNonNull(material, "material");
    char[] password = new char[16];
    for (int i = 0; i < password.length; i++) {
      password[i] = (char) ('a' + RANDOM.nextInt(26));
    }
    MaterialStores stores = MaterialStores.of(material, password);
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(stores.keyManagers(), stores.trustManagers(), null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new InvalidMaterialException("could not build an SSLContext from material generation "
          + material.generation() + ": " + e.getMessage(), e);
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
