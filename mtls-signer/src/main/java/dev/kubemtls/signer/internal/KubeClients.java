package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * How the signer's programs read a kubeconfig: as the rest of kube-mtls does (the test kit's
 * kubeconfig backend, the demo), including a client key in unencrypted PKCS#8 form ({@code PRIVATE
 * KEY}) of an EC key, which fabric8 on its own takes for RSA and then refuses with "Invalid DER".
 * And what went wrong, in words: fabric8 wraps the cause of a failed client in "An error has
 * occurred".
 */
public final class KubeClients {

  private KubeClients() {}

  /**
   * The configuration from {@code kubeconfig}, or when null from the usual places (in-cluster,
   * {@code KUBECONFIG}, {@code ~/.kube/config}), with its client key algorithm detected.
   */
  public static Config config(Path kubeconfig) {
    Config config = kubeconfig == null ? Config.autoConfigure(null) : Config.fromKubeconfig(kubeconfig.toFile());
    return withDetectedKeyAlgorithm(config);
  }

  /**
   * {@code config} with its client key algorithm set when the key is unencrypted PKCS#8: fabric8
   * takes such a key for RSA unless the kubeconfig says otherwise. Other forms ({@code EC PRIVATE
   * KEY}, {@code RSA PRIVATE KEY}) it recognises by their PEM type.
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
        pem = Files.readString(new File(config.getClientKeyFile()).toPath(), StandardCharsets.US_ASCII);
      }
    } catch (IOException | IllegalArgumentException e) {
      return config; // the client reports the unreadable key itself, naming it
    }
    String begin = "-----BEGIN PRIVATE KEY-----";
    String end = "-----END PRIVATE KEY-----";
    if (pem == null || !pem.contains(begin) || !pem.contains(end) || pem.indexOf(end) < pem.indexOf(begin)) {
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

  /** {@code e}'s message followed by its causes' ({@code a: b: c}), without repeats, made safe to print. */
  public static String describe(Throwable e) {
    StringBuilder out = new StringBuilder();
    String last = null;
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
      if (last != null && last.contains(m)) {
        continue;
      }
      if (out.length() > 0) {
        out.append(": ");
      }
      out.append(m);
      last = m;
    }
    return Bounded.message(out.toString());
  }
}
