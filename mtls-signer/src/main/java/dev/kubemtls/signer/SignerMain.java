package dev.kubemtls.signer;

import dev.kubemtls.core.InvalidMaterialException;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.SecureRandom;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

/**
 * The signer as a program: reads a {@link SignerConfig} from flags and {@code KUBE_MTLS_*}
 * environment variables, connects with the in-cluster configuration (or {@code KUBECONFIG} outside
 * a cluster), loads the CA from its Secret and runs a {@link Signer} replica until the JVM is
 * stopped. {@code --help} lists the flags. Configuration errors exit with status 2 and a message
 * that names the flag; a CA that cannot be loaded exits with status 1.
 */
public final class SignerMain {

  private SignerMain() {}

  /** Runs the signer. */
  public static void main(String[] args) throws InterruptedException {
    if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
      System.out.println(usage());
      return;
    }
    SignerConfig config;
    try {
      config = SignerConfig.parse(Arrays.asList(args), System.getenv());
    } catch (IllegalArgumentException | NullPointerException e) {
      System.err.println("kube-mtls signer: invalid configuration: " + e.getMessage());
      System.err.println("Run with --help for the list of flags.");
      System.exit(2);
      return;
    }
    KubernetesClient client = new KubernetesClientBuilder().build();
    CertificateAuthority ca;
    try {
      Secret secret = client.secrets().inNamespace(config.caSecretNamespace()).withName(config.caSecretName()).get();
      if (secret == null) {
        throw new InvalidMaterialException("Secret " + config.caSecretNamespace() + "/" + config.caSecretName()
            + " does not exist; create a kubernetes.io/tls Secret with the CA (" + SignerConfig.Flag.CA_SECRET_NAME.flag()
            + ", " + SignerConfig.Flag.CA_SECRET_NAMESPACE.flag() + ")");
      }
      ca = CertificateAuthority.fromSecret(secret, config.validity(), InstantSource.system(), new SecureRandom());
    } catch (InvalidMaterialException | KubernetesClientException e) {
      System.err.println("kube-mtls signer: cannot load the CA: " + e.getMessage());
      client.close();
      System.exit(1);
      return;
    }
    Signer signer = Signer.start(client, config, ca, InstantSource.system());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      signer.close();
      client.close();
      stopped.countDown();
    }, "kube-mtls-signer-shutdown"));
    stopped.await();
  }

  /** The help text: every flag, its environment variable and default. */
  public static String usage() {
    StringBuilder sb = new StringBuilder("Usage: SignerMain [--flag=value ...]\n\n");
    for (SignerConfig.Flag f : SignerConfig.Flag.values()) {
      sb.append(String.format("  %-24s %-34s %s%s%n", f.flag(), f.environmentVariable(), f.help(),
          f.defaultValue() == null ? "" : " [" + f.defaultValue() + "]"));
    }
    return sb.toString();
  }
}
