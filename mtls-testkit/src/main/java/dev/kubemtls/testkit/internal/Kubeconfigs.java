package dev.kubemtls.testkit.internal;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/** Writing kubeconfig files and reading the PEM a fabric8 {@link Config} carries. */
public final class Kubeconfigs {

  private Kubeconfigs() {}

  /**
   * Writes a one-context kubeconfig. {@code caPem} null with {@code insecure} false means the
   * system's trust store; {@code user} is the indented body of the user entry.
   */
  public static void write(Path file, String server, String caPem, boolean insecure, String user) {
    StringBuilder cluster = new StringBuilder("    server: ").append(server).append('\n');
    if (caPem != null) {
      cluster.append("    certificate-authority-data: ").append(b64(caPem)).append('\n');
    } else if (insecure) {
      cluster.append("    insecure-skip-tls-verify: true\n");
    }
    String text = "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-mtls-test\n  cluster:\n" + cluster
        + "users:\n- name: user\n  user:\n    " + user + "\n"
        + "contexts:\n- name: default\n  context:\n    cluster: kube-mtls-test\n    user: user\n    namespace: default\n"
        + "current-context: default\n";
    try {
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException("could not write the kubeconfig " + file, e);
    }
  }

  /** The PEM of the CA a config trusts for the apiserver, from its inline data or its file; null if none. */
  public static String caPem(Config config) {
    if (config.getCaCertData() != null && !config.getCaCertData().isBlank()) {
      return new String(Base64.getMimeDecoder().decode(config.getCaCertData()), StandardCharsets.UTF_8);
    }
    if (config.getCaCertFile() != null && !config.getCaCertFile().isBlank()) {
      try {
        return Files.readString(Path.of(config.getCaCertFile()));
      } catch (IOException e) {
        throw new UncheckedIOException("could not read the CA file " + config.getCaCertFile()
            + " that the kubeconfig names", e);
      }
    }
    return null;
  }

  /**
   * {@code config} with its client key algorithm set when the key is unencrypted PKCS#8
   * ({@code PRIVATE KEY}): fabric8 takes such a key for RSA unless the kubeconfig says otherwise,
   * and then fails on an EC key with "Invalid DER". Other forms it recognises by their PEM type.
   */
  public static Config withDetectedKeyAlgorithm(Config config) {
    if (config.getClientKeyAlgo() != null && !"RSA".equals(config.getClientKeyAlgo())) {
      return config;
    }
    String pem = null;
    try {
      if (config.getClientKeyData() != null && !config.getClientKeyData().isBlank()) {
        pem = new String(Base64.getMimeDecoder().decode(config.getClientKeyData()), StandardCharsets.US_ASCII);
      } else if (config.getClientKeyFile() != null && !config.getClientKeyFile().isBlank()) {
        pem = Files.readString(Path.of(config.getClientKeyFile()), StandardCharsets.US_ASCII);
      }
    } catch (IOException | IllegalArgumentException e) {
      return config; // fabric8 reports the unreadable key itself, naming it
    }
    String begin = "-----BEGIN PRIVATE KEY-----";
    String end = "-----END PRIVATE KEY-----";
    if (pem == null || !pem.contains(begin) || !pem.contains(end)) {
      return config;
    }
    try {
      byte[] der = Base64.getMimeDecoder().decode(pem.substring(pem.indexOf(begin) + begin.length(), pem.indexOf(end)));
      var algorithm = PrivateKeyInfo.getInstance(der).getPrivateKeyAlgorithm().getAlgorithm();
      String name = X9ObjectIdentifiers.id_ecPublicKey.equals(algorithm) ? "EC"
          : PKCSObjectIdentifiers.rsaEncryption.equals(algorithm) ? "RSA" : null;
      return name == null ? config : new ConfigBuilder(config).withClientKeyAlgo(name).build();
    } catch (RuntimeException e) {
      return config;
    }
  }

  /** Base64 of the UTF-8 bytes of {@code text}. */
  public static String b64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }
}
