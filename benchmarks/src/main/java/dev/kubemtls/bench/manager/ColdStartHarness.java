package dev.kubemtls.bench.manager;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.signer.internal.Signer;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A workload's time to ready in a fresh JVM (issue 28, item 3: the cold-start treatment offered to
 * workloads), a harness with a {@code main}, not a test.
 *
 * <p>For each JVM variant, {@code runs} child JVMs one after the other, each a workload that builds
 * a fabric8 client from a Pod-bound ServiceAccount kubeconfig, starts
 * {@code KubeMtls.forWorkload(client)} with the defaults and waits until it is ready (key, CSR,
 * approval and signature by the in-process signer of this harness, warm before the first child,
 * validation, trust bundle), then exits. Measured per child: the wall time from launching the JVM
 * to the child's report of ready, and the child's process CPU time until then. Baselines in the same
 * run, each a child of the same variant: {@code jvm}, a JVM that reports at once from {@code main}
 * (the JVM's own start), and {@code client}, one that builds the same client and makes one API
 * request (a ConfigMap get) before it reports: what any fabric8-based workload pays before it has
 * done anything of its own.
 *
 * <p>Arguments (optional): {@code runs} (10), {@code variants} ({@code tiered,c1,cds,c1+cds}):
 * {@code tiered} is the JVM's default, {@code c1} adds {@code -XX:TieredStopAtLevel=1}, {@code cds}
 * uses a dynamic AppCDS archive written by one training child first ({@code -XX:ArchiveClassesAtExit},
 * then {@code -XX:SharedArchiveFile}); any other name takes its options from
 * {@code -Dbench.cold.jvm.<name>}; parts joined by {@code +} add up. Every child also gets {@code -XX:+UseSerialGC} (what the JVM
 * picks on 1-2 CPUs and a small container anyway), unless {@code -Dbench.cold.jvm} says otherwise.
 */
public final class ColdStartHarness {

  private static final String SIGNER = "kube-mtls.dev/bench-cold";
  private static final String POD_IP = "10.97.0.1";
  private static final String READY = "kube-mtls-cold-ready ";

  private ColdStartHarness() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("--child")) {
      Child.run(Arrays.copyOfRange(args, 1, args.length));
      System.exit(0);
    }
    int runs = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    List<String> variants = List.of((args.length > 1 ? args[1] : "tiered,c1,cds,c1+cds").split(","));

    BenchWorkload bench = BenchWorkload.create("cold", POD_IP);
    String ns = bench.namespace();
    Path kubeconfig = bench.cp().writeKubeconfigFor(ns, "web", bench.pod(), Duration.ofHours(2));
    Path work = Files.createTempDirectory("kube-mtls-bench-cold-");

    Map<String, Map<String, long[][]>> results = new LinkedHashMap<>();
    try (Signer signer = bench.startSigner();
        KubernetesClient token = bench.client()) {
      // The signer warms up in this JVM first, so that the children measure their own start.
      for (int i = 0; i < 20; i++) {
        KubeMtls tls = KubeMtls.forWorkload(token).identity(bench.identity()).signerName(bench.signerName()).start();
        tls.awaitReady(Duration.ofSeconds(60));
        tls.close();
      }
      for (String variant : variants) {
        List<String> options = options(variant, work);
        Map<String, long[][]> byMode = new LinkedHashMap<>();
        for (String mode : List.of("jvm", "client", "ready")) {
          long[][] samples = new long[2][runs];
          for (int i = 0; i < runs; i++) {
            long[] one = child(options, mode, kubeconfig, ns);
            samples[0][i] = one[0];
            samples[1][i] = one[1];
          }
          byMode.put(mode, samples);
          System.out.printf(Locale.ROOT, "%-8s %-6s wall to ready p50 %7.1f ms  CPU to ready p50 %7.1f ms%n", variant,
              mode, p50(samples[0]), p50(samples[1]));
        }
        results.put(variant, byMode);
      }
    }
    report(results, runs);
    System.exit(0);
  }


  /**
   * The JVM options of a variant: its parts joined by {@code +} (e.g. {@code c1+cds}), each adding its
   * options to the base.
   */
  private static List<String> options(String variant, Path work) {
    List<String> options = new ArrayList<>(List.of(System.getProperty("bench.cold.jvm", "-XX:+UseSerialGC").trim()
        .split("\\s+")));
    options.removeIf(String::isEmpty);
    for (String part : variant.split("\\+")) {
      switch (part) {
        case "tiered" -> { }
        case "c1" -> options.add("-XX:TieredStopAtLevel=1");
        // The archive's name tells the variants apart: each writes its own with one training child.
        case "cds" -> options.add("-XX:SharedArchiveFile=" + work.resolve(variant.replace('+', '-') + ".jsa"));
        default -> {
          String extra = System.getProperty("bench.cold.jvm." + part);
          if (extra == null) {
            throw new IllegalArgumentException("variant part '" + part + "': one of tiered, c1, cds, or set"
                + " -Dbench.cold.jvm." + part + "=<JVM options>");
          }
          options.addAll(List.of(extra.trim().split("\\s+")));
        }
      }
    }
    return options;
  }

  /** Writes the {@code cds} archive: one child that starts a workload and exits, archiving its classes. */
  private static void train(List<String> options, Path kubeconfig, String ns) throws Exception {
    List<String> training = new ArrayList<>();
    for (String o : options) {
      training.add(o.startsWith("-XX:SharedArchiveFile=")
          ? "-XX:ArchiveClassesAtExit=" + o.substring("-XX:SharedArchiveFile=".length()) : o);
    }
    child(training, "ready", kubeconfig, ns);
  }

  private static final java.util.Set<List<String>> TRAINED = new java.util.HashSet<>();

  /** Runs one child; returns {wall nanos from launch to its report, its CPU nanos until then}. */
  private static long[] child(List<String> options, String mode, Path kubeconfig, String ns) throws Exception {
    if (options.stream().anyMatch(o -> o.startsWith("-XX:SharedArchiveFile=")) && TRAINED.add(options)) {
      train(options, kubeconfig, ns);
    }
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = new ArrayList<>(List.of(java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
    command.addAll(options);
    command.addAll(List.of("-cp", childClasspath(), ColdStartHarness.class.getName(), "--child",
        mode, kubeconfig.toString(), ns, SIGNER));
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    long wall = -1;
    long cpu = -1;
    StringBuilder output = new StringBuilder();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line = out.readLine(); line != null; line = out.readLine()) {
        if (line.startsWith(READY) && wall < 0) {
          wall = System.nanoTime() - t0;
          cpu = Long.parseLong(line.substring(READY.length()).trim());
        } else if (output.length() < 20_000) {
          output.append(line).append('\n');
        }
      }
    }
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("a " + mode + " child did not exit within 120 s:\n" + output);
    }
    if (p.exitValue() != 0 || wall < 0) {
      throw new IllegalStateException("a " + mode + " child (" + String.join(" ", options) + ") failed with exit "
          + p.exitValue() + ":\n" + output);
    }
    return new long[] {wall, cpu};
  }

  private static String classpath;

  /**
   * This JVM's class path with each directory (this module's classes in a build tree) packed into a
   * jar of its own, since class-data sharing takes jars only.
   */
  private static synchronized String childClasspath() throws IOException {
    if (classpath == null) {
      List<String> entries = new ArrayList<>();
      for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
        Path path = Path.of(entry);
        entries.add(Files.isDirectory(path) ? jarOf(path).toString() : entry);
      }
      classpath = String.join(java.io.File.pathSeparator, entries);
    }
    return classpath;
  }

  private static Path jarOf(Path directory) throws IOException {
    Path jar = Files.createTempFile("kube-mtls-bench-cold-", ".jar");
    jar.toFile().deleteOnExit();
    try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar));
        var files = Files.walk(directory)) {
      for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile).sorted()::iterator) {
        out.putNextEntry(new java.util.jar.JarEntry(directory.relativize(file).toString().replace('\\', '/')));
        Files.copy(file, out);
        out.closeEntry();
      }
    }
    return jar;
  }

  private static void report(Map<String, Map<String, long[][]>> results, int runs) {
    System.out.printf(Locale.ROOT, "%nkube-mtls workload cold start (%d fresh JVMs per variant and mode, %d cores, Java %s)%n",
        runs, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
    System.out.println("| JVM | bare JVM: wall, CPU ms | fabric8 client + 1 GET: wall, CPU ms | KubeMtls ready: wall, CPU ms"
        + " | ready / client (wall) | ready wall / tiered |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    double tiered = results.containsKey("tiered") ? p50(results.get("tiered").get("ready")[0]) : Double.NaN;
    results.forEach((variant, byMode) -> {
      long[][] jvm = byMode.get("jvm");
      long[][] client = byMode.get("client");
      long[][] ready = byMode.get("ready");
      System.out.printf(Locale.ROOT, "| %s | %.0f, %.0f | %.0f, %.0f | %.0f, %.0f | %.2f | %.2f |%n", variant,
          p50(jvm[0]), p50(jvm[1]), p50(client[0]), p50(client[1]), p50(ready[0]), p50(ready[1]),
          p50(ready[0]) / p50(client[0]), p50(ready[0]) / tiered);
    });
    System.out.println("(p50 of each; wall: from launching the JVM to its report; CPU: the child's process CPU"
        + " time until then)");
  }

  private static double p50(long[] nanos) {
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    return sorted[(sorted.length - 1) / 2] / 1e6;
  }

  /** The child JVM: reports "ready &lt;process CPU nanos&gt;" on stdout once its mode's work is done. */
  static final class Child {
    private Child() {}

    static void run(String[] args) throws Exception {
      String mode = args[0];
      if (mode.equals("jvm")) {
        report();
        return;
      }
      Config config = Config.fromKubeconfig(Path.of(args[1]).toFile());
      try (KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build()) {
        if (mode.equals("client")) {
          client.configMaps().inNamespace(args[2]).withName("kube-mtls-ca").get();
          report();
          return;
        }
        try (KubeMtls tls = KubeMtls.forWorkload(client).identity(BenchWorkload.identity(args[2], POD_IP)).signerName(args[3]).start()) {
          tls.awaitReady(Duration.ofSeconds(60));
          report();
        }
      }
    }

    private static void report() throws IOException {
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      System.out.println(READY + os.getProcessCpuTime());
      System.out.flush();
    }
  }
}
