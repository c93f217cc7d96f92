package dev.kubemtls.signer;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.tls.NativeCrypto;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.Crypto;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.SignerMetrics;
import dev.kubemtls.signer.internal.SignerServer;
import dev.kubemtls.signer.internal.WarmUp;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The signer as a program, and the entry point of this module: reads a {@link SignerConfig} from
 * flags and {@code KUBE_MTLS_*} environment variables, connects with the in-cluster configuration
 * (or {@code KUBECONFIG} outside a cluster), loads the CA from its Secret and runs a signer replica
 * until the JVM is stopped, with its meters (the signer's and the JVM's) and probes served on
 * {@code --metrics-address} (default {@code :9090}; the probes on {@code --probe-address} when
 * set). {@code --help} lists the flags. Configuration errors exit with status 2 and a message
 * that names the flag; a CA that cannot be loaded, or {@code --cluster-trust-bundle=true} on a
 * cluster that does not serve ClusterTrustBundles, exits with status 1.
 */
public final class SignerMain {

  private SignerMain() {}

  /** The common pool's parallelism the signer sets unless the JVM was given one. */
  static final String COMMON_POOL_PARALLELISM = "java.util.concurrent.ForkJoinPool.common.parallelism";

  /** Runs the signer. */
  public static void main(String[] args) throws InterruptedException {
    // With 2 or fewer CPUs the common pool has a parallelism of 1, and CompletableFuture then runs
    // every async stage (the HTTP client's among them) on a new thread: two threads per CSR, about a
    // fifth of the signer's CPU in SignerLoadHarness. Set before anything touches the pool.
    if (System.getProperty(COMMON_POOL_PARALLELISM) == null) {
      System.setProperty(COMMON_POOL_PARALLELISM, "4");
    }
    if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
      System.out.println(usage());
      return;
    }
    if (args.length > 0 && args[0].equals("rotate-ca")) {
      System.exit(rotateCa(Arrays.asList(args).subList(1, args.length)));
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
    java.util.Optional<java.net.InetSocketAddress> httpAddress;
    java.util.Optional<java.net.InetSocketAddress> probeAddress;
    try {
      httpAddress = SignerServer.address(Arrays.asList(args), System.getenv());
      probeAddress = SignerServer.probeAddress(Arrays.asList(args), System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println("kube-mtls signer: invalid configuration: " + e.getMessage());
      System.exit(2);
      return;
    }
    int warmUpRequests;
    try {
      warmUpRequests = WarmUp.requests(System.getProperty(WarmUp.PROPERTY));
    } catch (IllegalArgumentException e) {
      System.err.println("kube-mtls signer: invalid configuration: " + e.getMessage());
      System.exit(2);
      return;
    }
    installNativeTls(System.getProperty(Crypto.NATIVE_PROPERTY, "true"));
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    SignerMetrics metrics = new SignerMetrics(registry);
    KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(dev.kubemtls.signer.internal.KubeClients.config(null)).build();
    // Before standing for election: the first burst this replica serves finds its path compiled.
    WarmUp.runLogged(config, client, warmUpRequests);
    Signer signer;
    try {
      signer = Signer.startFromSecret(client, config, metrics);
    } catch (InvalidMaterialException | KubernetesClientException e) {
      System.err.println("kube-mtls signer: cannot load the CA: " + e.getMessage());
      client.close();
      System.exit(1);
      return;
    } catch (IllegalStateException e) {
      System.err.println("kube-mtls signer: cannot start: " + e.getMessage());
      client.close();
      System.exit(1);
      return;
    }
    metrics.bind(signer);
    java.util.List<SignerServer> servers = new java.util.ArrayList<>();
    try {
      if (probeAddress.isPresent()) {
        servers.add(SignerServer.startProbes(probeAddress.get(), signer));
        httpAddress.ifPresent(a -> servers.add(SignerServer.startMetrics(a, registry)));
      } else {
        httpAddress.ifPresent(a -> servers.add(SignerServer.start(a, signer, registry)));
      }
    } catch (java.io.UncheckedIOException e) {
      System.err.println("kube-mtls signer: cannot start: " + e.getMessage() + ": " + e.getCause().getMessage());
      servers.forEach(SignerServer::close);
      signer.close();
      client.close();
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      servers.forEach(SignerServer::close);
      signer.close();
      client.close();
      stopped.countDown();
    }, "kube-mtls-signer-shutdown"));
    stopped.await();
  }

  /**
   * Registers the native JCA provider (ACCP, see {@link NativeCrypto}) first for the whole JVM, so that
   * the TLS of the signer's connections to the API server runs its AES-GCM, ECDH and ECDSA natively,
   * unless {@code switchValue} (the system property {@value Crypto#NATIVE_PROPERTY}) is {@code false}.
   * Called before the first connection. The program owns its JVM, so it may change the provider list;
   * an application that embeds the signer decides for itself ({@link Crypto} never registers anything).
   *
   * <p>Why: every watch event and write answer the signer reads from the API server is decrypted with
   * AES-GCM, and the JDK's AES and GHASH run as compiler intrinsics only in C2-compiled code. The
   * Deployment runs the C1 compiler alone ({@code -XX:TieredStopAtLevel=1}), where they are plain Java:
   * in a recording of a warm signer that was half of its Java samples (see the benchmarks README).
   *
   * @return what {@link NativeCrypto#install()} found, or why nothing was registered
   */
  static NativeCrypto.Status installNativeTls(String switchValue) {
    if (switchValue != null && "false".equalsIgnoreCase(switchValue.trim())) {
      return new NativeCrypto.Status(false, "switched off (" + Crypto.NATIVE_PROPERTY + "=false)");
    }
    return NativeCrypto.install();
  }

  /**
   * {@code SignerMain rotate-ca [--ca-secret-namespace=NS] [--ca-secret-name=NAME] [--ca-lifetime=8760h]
   * [--kubeconfig=PATH]}: writes a freshly generated CA into the CA Secret. The kubeconfig (else the
   * in-cluster configuration, {@code KUBECONFIG} or {@code ~/.kube/config}) is read as the rest of
   * kube-mtls reads one, an EC client key in PKCS#8 form included; a failure names its cause. The running signer notices and rotates with
   * overlap: the new CA is trusted first, signs after the propagation delay, and the old one leaves
   * the bundle when no certificate it signed can still be valid.
   *
   * @return the exit code
   */
  static int rotateCa(List<String> args) {
    return rotateCa(args, System.getenv(), System.out, System.err);
  }

  /** {@link #rotateCa(List)} with its environment and output streams given. */
  static int rotateCa(List<String> args, java.util.Map<String, String> env, java.io.PrintStream out,
      java.io.PrintStream err) {
    SignerFlags.RotateCa flags;
    try {
      flags = SignerFlags.RotateCa.parse(args, env);
    } catch (IllegalArgumentException e) {
      err.println("kube-mtls rotate-ca: " + e.getMessage()
          + " (use --ca-secret-namespace, --ca-secret-name, --ca-lifetime, --kubeconfig)");
      return 2;
    }
    String namespace = flags.namespace;
    String name = flags.name;
    java.nio.file.Path kubeconfig = flags.kubeconfig;
    Duration lifetime = flags.lifetime;
    io.fabric8.kubernetes.client.Config config;
    try {
      config = dev.kubemtls.signer.internal.KubeClients.config(kubeconfig);
    } catch (RuntimeException e) {
      err.println("kube-mtls rotate-ca: cannot read the kubeconfig" + (kubeconfig == null ? "" : " " + kubeconfig)
          + ": " + dev.kubemtls.signer.internal.KubeClients.describe(e));
      return 1;
    }
    try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
      CertificateAuthority next = Signer.writeNewCa(client, namespace, name, lifetime);
      out.println("wrote a new CA into Secret " + namespace + "/" + name + ": "
          + next.certificate().getSubjectX500Principal().getName() + ", serial "
          + next.certificate().getSerialNumber().toString(16) + "; the signer rotates to it with overlap");
      return 0;
    } catch (RuntimeException e) {
      // fabric8 says "An error has occurred" and puts what happened in the causes.
      err.println("kube-mtls rotate-ca: cannot update Secret " + namespace + "/" + name + " on "
          + config.getMasterUrl() + ": " + dev.kubemtls.signer.internal.KubeClients.describe(e));
      return 1;
    }
  }

  /** The help text: every flag, its environment variable and default. */
  public static String usage() {
    StringBuilder sb = new StringBuilder("Usage: SignerMain [--flag=value ...]\n"
        + "       SignerMain rotate-ca [--ca-secret-namespace=NS] [--ca-secret-name=NAME] [--ca-lifetime=8760h]"
        + " [--kubeconfig=PATH]\n\n");
    for (picocli.CommandLine.Model.OptionSpec o : SignerFlags.options()) {
      sb.append(String.format("  %-24s %-34s %s%s%n", o.longestName(), SignerFlags.environmentVariable(o.longestName()),
          String.join(" ", o.description()), o.defaultValue() == null ? "" : " [" + o.defaultValue() + "]"));
    }
    return sb.toString();
  }
}
