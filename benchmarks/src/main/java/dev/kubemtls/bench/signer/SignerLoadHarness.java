package dev.kubemtls.bench.signer;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestStatus;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Load harness for the signer on the local control plane (not a test): the kube-mtls signer against
 * kube-controller-manager's CSR signing controller, in the same run, with the same driver.
 *
 * <p>Each variant gets warm-up bursts (rounds of {@code count} CSRs, deleted after each), then a
 * measured burst of {@code count} CSRs created by {@code concurrency} clients (a Pod-bound
 * ServiceAccount token; SPIFFE ID and the Service's DNS name, so the strict policy does its Pod and
 * Service lookups), watched until issued. Variants:
 * <ul>
 *   <li>{@code cache:<workers>} / {@code request:<workers>}: the kube-mtls signer as its own JVM
 *       ({@code SignerMain}, so its CPU is its own) with {@code --lookups=cache|request};</li>
 *   <li>{@code sign:<workers>}: the same signer with {@code --approve=false} and cached lookups, its
 *       CSRs approved by this driver as KCM's are, so that it signs only, as KCM does (it still judges
 *       each CSR with its policy before it signs);</li>
 *   <li>{@code kcm}: kube-controller-manager with only its CSR signing controller and
 *       {@code --kube-api-qps/--kube-api-burst=1000}; {@code kubernetes.io/kube-apiserver-client}
 *       CSRs, approved by this driver through {@code /approval} as soon as its watch sees them. KCM
 *       runs last, so that its CSR informer (it watches every CSR) does not load the other runs.</li>
 * </ul>
 *
 * <p>Reported per variant: issued/s (first create to last issued), p50/p99 create-to-issued, API
 * calls per certificate (the apiserver's {@code apiserver_request_total} for CSRs, Pods and Services,
 * before and after the burst), CPU-seconds per 100 certificates of the signer process (the child JVM,
 * or KCM), of kube-apiserver and of etcd; and the ratios against KCM.
 *
 * <p>Arguments (all optional): {@code count} (1000), {@code concurrency} (8), {@code variants}
 * ({@code cache:32,request:32,kcm}), {@code warmup} (20000, in rounds of {@code count}: a signer JVM's C2
 * compiler is still busy after several thousand CSRs, a minute of load, and that CPU would be counted
 * as the signer's). A variant {@code cache:8@<name>} runs the
 * signer with another fabric8 HTTP client, from {@code -Dbench.transport.<name>=<classpath>}, with
 * {@code -Dbench.signer.prepend.<name>=<classpath>} in front of its class path (e.g. an older
 * mtls-signer jar, to compare two signers in one run), and with the JVM options of
 * {@code -Dbench.signer.jvm.<name>} added (e.g. {@code -Dkube-mtls.signer.native-crypto=false}).
 */
public final class SignerLoadHarness {

  private static final String SIGNER = "kube-mtls.dev/bench";
  /**
   * The signer JVM's options unless {@code -Dbench.signer.jvm} says otherwise: those of the
   * Deployment's {@code JAVA_TOOL_OPTIONS} (serial collector, C1 only) with the heap its 256 MiB limit
   * gives. {@code -Dbench.signer.jvm.<name>=-XX:TieredStopAtLevel=4} gives a variant {@code @<name>}
   * the full tiered compiler back.
   */
  static final String SIGNER_JVM = "-XX:+UseSerialGC -Xmx192m -XX:TieredStopAtLevel=1";
  private static final String KCM_SIGNER = "kubernetes.io/kube-apiserver-client";
  private static final String SIGNER_NS = "kube-mtls-bench";
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");
  private static final List<String> KCM_USAGES = List.of("digital signature", "client auth");
  private static final Set<String> COUNTED = Set.of("certificatesigningrequests", "pods", "services");
  private static final Pattern REQUEST_TOTAL = Pattern.compile("^apiserver_request_total\\{([^}]*)} ([0-9.e+]+)$");

  private SignerLoadHarness() {}

  record Result(String variant, int count, double issuedPerSecond, double p50Ms, double p99Ms,
      double callsPerCert, Map<String, Double> callsByKind, double signerCpuPer100, double apiServerCpuPer100,
      double etcdCpuPer100, String loadAverage) {}

  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int concurrency = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    List<String> variants = List.of((args.length > 2 ? args[2] : "cache:32,request:32,kcm").split(","));
    int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 20000;

    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String ns = cp.createNamespace("bench");
    Pod pod = cp.createPod(ns, "web-0", "web", Map.of("app", "web"), "10.99.0.1");
    admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
        .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    String role = "bench-csr-" + ns;
    admin.rbac().clusterRoles().resource(new ClusterRoleBuilder().withNewMetadata().withName(role).endMetadata()
        .withRules(new PolicyRuleBuilder().withApiGroups("certificates.k8s.io")
            .withResources("certificatesigningrequests").withVerbs("create", "get", "list", "watch", "delete")
            .build()).build()).create();
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata().withName(role)
        .endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName(role).endRoleRef().addNewSubject().withKind("ServiceAccount").withName("web").withNamespace(ns)
        .endSubject().build()).create();
    if (admin.namespaces().withName(SIGNER_NS).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(SIGNER_NS).endMetadata()
          .build()).create();
    }
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls bench CA", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(SIGNER_NS).resource(ca.toSecret(SIGNER_NS, "kube-mtls-ca")).create();
    // The signer acts as a ServiceAccount bound to cluster-admin (RBAC is not what is measured).
    cp.ensureServiceAccount(SIGNER_NS, "bench-signer");
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
        .withName("bench-signer-admin").endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("ClusterRole").withName("cluster-admin").endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("bench-signer").withNamespace(SIGNER_NS).endSubject().build()).createOr(r -> r.update());
    Path kubeconfig = cp.writeKubeconfigFor(SIGNER_NS, "bench-signer", null, Duration.ofHours(2));
    String spiffe = "spiffe://cluster.local/ns/" + ns + "/sa/web";
    String dns = "web." + ns + ".svc";

    List<Result> results = new ArrayList<>();
    // Every burst of each variant (warm-up rounds and the measured one), for the steadier means.
    Map<String, List<Result>> recent = new LinkedHashMap<>();
    try (KubernetesClient workload = cp.clientFor(ns, "web", pod)) {
      for (String variant : variants) {
        System.out.printf("%n== %s: generating %d CSRs%n", variant, 2 * count);
        // The warm-up runs in rounds of `count` CSRs (the same requests each round, new CSR objects),
        // each deleted afterwards, so that etcd and the informers hold no more than a measured burst.
        List<String> warm = csrs(count, spiffe, dns);
        List<String> measured = csrs(count, spiffe, dns);
        int rounds = (warmup + count - 1) / count;
        if (variant.equals("kcm")) {
          cp.startControllerManager(List.of("certificatesigningrequest-signing-controller"),
              List.of("--kube-api-qps=1000", "--kube-api-burst=1000"));
          long kcmPid = descendant("kube-controller-manager").pid();
          try (Approver approver = new Approver(admin, KCM_SIGNER)) {
            // KCM is compiled ahead of time: two rounds fill its caches and connections.
            for (int round = 1; round <= Math.min(rounds, 2); round++) {
              recent.computeIfAbsent(variant, v -> new ArrayList<>()).add(
                  burst(cp, admin, workload, KCM_SIGNER, KCM_USAGES, warm, concurrency, kcmPid,
                  "kcm (warm-up " + round + ")"));
            }
            results.add(burst(cp, admin, workload, KCM_SIGNER, KCM_USAGES, measured, concurrency, kcmPid, variant));
            recent.computeIfAbsent(variant, v -> new ArrayList<>()).add(results.get(results.size() - 1));
          }
        } else {
          String[] at = variant.split("@", 2);
          String[] parts = at[0].split(":");
          // sign:<workers>: the signer with --approve=false and cached lookups, its CSRs approved by this
          // driver as KCM's are, so that both sign only (the signer still judges each with its policy).
          boolean signOnly = parts[0].equals("sign");
          String lookups = signOnly ? "cache" : parts[0];
          int workers = parts.length > 1 ? Integer.parseInt(parts[1]) : 4;
          String name = variant.replace(':', '-').replace('@', '-');
          Process signer = startSigner(kubeconfig, lookups, workers, name, at.length > 1 ? at[1] : null, signOnly);
          try (Approver approver = signOnly ? new Approver(admin, SIGNER) : null) {
            awaitLeader(admin, SIGNER_NS, "bench-" + name, signer);
            for (int round = 1; round <= rounds; round++) {
              recent.computeIfAbsent(variant, v -> new ArrayList<>()).add(
                  burst(cp, admin, workload, SIGNER, USAGES, warm, concurrency, signer.pid(),
                  variant + " (warm-up " + round + "/" + rounds + ")"));
            }
            results.add(burst(cp, admin, workload, SIGNER, USAGES, measured, concurrency, signer.pid(), variant));
            recent.computeIfAbsent(variant, v -> new ArrayList<>()).add(results.get(results.size() - 1));
          } finally {
            signer.destroy();
            signer.waitFor(30, TimeUnit.SECONDS);
          }
        }
      }
    }
    report(results, count, concurrency);
    reportRecent(recent);
    System.exit(0);
  }

  private static Result burst(ControlPlane cp, KubernetesClient admin, KubernetesClient workload, String signerName,
      List<String> usages, List<String> pems, int concurrency, long signerPid, String variant) throws Exception {
    Map<String, Long> issuedAt = new ConcurrentHashMap<>();
    Map<String, Long> starts = new ConcurrentHashMap<>();
    CountDownLatch allIssued = new CountDownLatch(pems.size());
    Watch watch = admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", signerName)
        .watch(new Watcher<>() {
          @Override
          public void eventReceived(Action action, CertificateSigningRequest csr) {
            if (csr.getStatus() != null && csr.getStatus().getCertificate() != null
                && !csr.getStatus().getCertificate().isEmpty()
                && issuedAt.putIfAbsent(csr.getMetadata().getName(), System.nanoTime()) == null) {
              allIssued.countDown();
            }
          }

          @Override
          public void onClose(WatcherException cause) {
            if (cause != null) {
              System.err.println("watch closed: " + cause);
            }
          }
        });
    ProcessHandle apiServer = descendant("kube-apiserver");
    ProcessHandle etcd = descendant("etcd");
    try {
      Map<String, Double> before = requestCounts(admin);
      String load = loadAverage();
      Duration signerCpu0 = cpu(signerPid);
      Duration apiCpu0 = cpu(apiServer.pid());
      Duration etcdCpu0 = cpu(etcd.pid());
      long begin = System.nanoTime();
      create(workload, signerName, usages, pems, concurrency, starts);
      double createSeconds = (System.nanoTime() - begin) / 1e9;
      if (!allIssued.await(10, TimeUnit.MINUTES)) {
        throw new IllegalStateException(variant + ": only " + issuedAt.size() + " of " + pems.size()
            + " issued in 10 minutes");
      }
      long end = issuedAt.values().stream().mapToLong(Long::longValue).max().orElseThrow();
      Duration signerCpu = cpu(signerPid).minus(signerCpu0);
      Duration apiCpu = cpu(apiServer.pid()).minus(apiCpu0);
      Duration etcdCpu = cpu(etcd.pid()).minus(etcdCpu0);
      Map<String, Double> after = requestCounts(admin);
      Map<String, Double> calls = new TreeMap<>();
      after.forEach((k, v) -> {
        double d = v - before.getOrDefault(k, 0.0);
        if (d > 0) {
          calls.put(k, d / pems.size());
        }
      });
      double total = calls.values().stream().mapToDouble(Double::doubleValue).sum();
      List<Long> latencies = new ArrayList<>();
      starts.forEach((name, start) -> latencies.add(issuedAt.get(name) - start));
      latencies.sort(null);
      double seconds = (end - begin) / 1e9;
      Result r = new Result(variant, pems.size(), pems.size() / seconds, pct(latencies, 0.50), pct(latencies, 0.99),
          total, calls, per100(signerCpu, pems.size()), per100(apiCpu, pems.size()), per100(etcdCpu, pems.size()), load);
      System.out.printf(Locale.ROOT, "%-22s %7.1f cert/s  p50 %7.0f ms  p99 %7.0f ms  %4.2f calls/cert  CPU-s/100:"
          + " signer %.3f apiserver %.3f etcd %.3f%n    created at %.1f CSR/s; calls per cert: %s; load average %s%n",
          variant, r.issuedPerSecond(), r.p50Ms(), r.p99Ms(), r.callsPerCert(), r.signerCpuPer100(),
          r.apiServerCpuPer100(), r.etcdCpuPer100(), pems.size() / createSeconds, format(calls), load);
      return r;
    } finally {
      watch.close();
      admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", signerName).delete();
    }
  }

  private static void report(List<Result> results, int count, int concurrency) {
    Optional<Result> kcm = results.stream().filter(r -> r.variant().equals("kcm")).findFirst();
    System.out.printf(Locale.ROOT, "%nsigner load: %d CSRs per variant, %d creating clients, %d cores, Java %s%n",
        count, concurrency, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
    System.out.println("| signer | issued/s | p50 ms | p99 ms | API calls/cert | signer CPU-s/100 | apiserver CPU-s/100"
        + " | etcd CPU-s/100 | load average at start |");
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (Result r : results) {
      System.out.printf(Locale.ROOT, "| %s | %.1f | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f | %s |%n", r.variant(),
          r.issuedPerSecond(), r.p50Ms(), r.p99Ms(), r.callsPerCert(), r.signerCpuPer100(), r.apiServerCpuPer100(),
          r.etcdCpuPer100(), r.loadAverage());
    }
    if (kcm.isPresent()) {
      Result k = kcm.get();
      System.out.println("\nratios against kcm (issued/s higher is better; the others lower is better):");
      System.out.println("| signer | issued/s | p50 | p99 | API calls/cert | signer CPU/cert | apiserver CPU/cert |");
      System.out.println("|---|---:|---:|---:|---:|---:|---:|");
      for (Result r : results) {
        System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |%n", r.variant(),
            r.issuedPerSecond() / k.issuedPerSecond(), r.p50Ms() / k.p50Ms(), r.p99Ms() / k.p99Ms(),
            r.callsPerCert() / k.callsPerCert(), r.signerCpuPer100() / k.signerCpuPer100(),
            r.apiServerCpuPer100() / k.apiServerCpuPer100());
      }
    }
  }

  /** How many of each variant's last bursts {@link #reportRecent} averages. */
  static final int RECENT = 6;

  /**
   * The same ratios from the mean of each variant's last {@link #RECENT} bursts (the last warm-up
   * rounds and the measured one; KCM has only three): one burst of 1,000 CSRs on a shared machine
   * varies by a third from the next, so this is steadier than the single measured burst.
   */
  private static void reportRecent(Map<String, List<Result>> recent) {
    List<Result> kcm = recent.get("kcm");
    if (kcm == null) {
      return;
    }
    double[] k = mean(kcm);
    System.out.printf(Locale.ROOT, "%nratios against kcm, means of the last %d bursts of each variant (issued/s, p99, signer"
        + " CPU per certificate; KCM: its %d):%n", RECENT, Math.min(RECENT, kcm.size()));
    System.out.println("| signer | bursts | issued/s | p99 | signer CPU/cert | signer CPU-s/100 |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    recent.forEach((variant, bursts) -> {
      double[] m = mean(bursts);
      System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.2f | %.2f | %.3f |%n", variant, Math.min(RECENT, bursts.size()),
          m[0] / k[0], m[1] / k[1], m[2] / k[2], m[2]);
    });
  }

  /** issued/s, p99 and signer CPU-s/100, averaged over the last {@link #RECENT} bursts. */
  private static double[] mean(List<Result> bursts) {
    List<Result> last = bursts.subList(Math.max(0, bursts.size() - RECENT), bursts.size());
    double[] m = new double[3];
    for (Result r : last) {
      m[0] += r.issuedPerSecond() / last.size();
      m[1] += r.p99Ms() / last.size();
      m[2] += r.signerCpuPer100() / last.size();
    }
    return m;
  }

  /** The kube-mtls signer as a child JVM on this harness's classpath, acting as the admin. */
  private static Process startSigner(Path kubeconfig, String lookups, int workers, String name, String transport,
      boolean signOnly) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    File log = Files.createTempFile("kube-mtls-bench-signer-", ".log").toFile();
    List<String> command = new ArrayList<>(List.of(java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
    // By default the JVM of the Deployment (SIGNER_JVM). e.g. -Dbench.signer.jvm="... -XX:StartFlightRecording=..."
    // to profile.
    String extra = System.getProperty("bench.signer.jvm", SIGNER_JVM).trim();
    if (transport != null) {
      // e.g. -Dbench.signer.jvm.bc=-Dkube-mtls.signer.native-crypto=false for a variant cache:32@bc.
      extra = (extra + " " + System.getProperty("bench.signer.jvm." + transport, "")).trim();
    }
    if (!extra.isEmpty()) {
      command.addAll(List.of(extra.split("\\s+")));
    }
    command.addAll(List.of("-cp", signerClasspath(transport), "dev.kubemtls.signer.SignerMain",
        "--signer-name=" + SIGNER, "--ca-secret-namespace=" + SIGNER_NS, "--lease-name=bench-" + name,
        "--identity=bench-" + name, "--workers=" + workers, "--lookups=" + lookups, "--max-ttl=1h",
        "--namespace-label=kube-mtls.dev/bench-bundle=true",
        // Metrics and probes served as in a Deployment, on a free port (a shared machine may hold :9090).
        "--metrics-address=127.0.0.1:0", "--approve=" + !signOnly));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log);
    pb.environment().put("KUBECONFIG", kubeconfig.toString());
    System.out.println("signer log: " + log);
    return pb.start();
  }

  /**
   * This harness's classpath, or for a variant {@code ...@<transport>} the same with fabric8's JDK HTTP
   * client replaced by the jars in the system property {@code bench.transport.<transport>} (a classpath;
   * a jar whose artifact is already present is skipped, so the build's Netty version stays).
   */
  private static String signerClasspath(String transport) {
    // Without the harness's own classes (a directory, which a class-data sharing archive refuses; the
    // signer needs none of them).
    String harness = Path.of(SignerLoadHarness.class.getProtectionDomain().getCodeSource().getLocation().getPath())
        .toString();
    String own = String.join(File.pathSeparator, java.util.Arrays.stream(
        System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(e -> !Path.of(e).toAbsolutePath().toString().equals(Path.of(harness).toAbsolutePath().toString()))
        .toList());
    if (transport == null) {
      return own;
    }
    // e.g. -Dbench.signer.prepend.before=<an older mtls-signer jar>: that signer against this one in one run.
    String prepend = System.getProperty("bench.signer.prepend." + transport, "").trim();
    if (!prepend.isEmpty()) {
      own = prepend + File.pathSeparator + own;
    }
    String extra = System.getProperty("bench.transport." + transport);
    if (extra == null || extra.isBlank()) {
      if (!prepend.isEmpty() || !System.getProperty("bench.signer.jvm." + transport, "").isBlank()) {
        return own;
      }
      throw new IllegalArgumentException("variant @" + transport + " needs -Dbench.transport." + transport
          + "=<classpath of that fabric8 HTTP client>, -Dbench.signer.prepend." + transport + "=<classpath> or"
          + " -Dbench.signer.jvm." + transport + "=<JVM options>");
    }
    List<String> entries = new ArrayList<>();
    Set<String> artifacts = new java.util.HashSet<>();
    for (String entry : own.split(File.pathSeparator)) {
      if (!entry.contains("kubernetes-httpclient-jdk")) {
        entries.add(entry);
        artifacts.add(artifactOf(entry));
      }
    }
    for (String entry : extra.split(File.pathSeparator)) {
      if (artifacts.add(artifactOf(entry))) {
        entries.add(entry);
      }
    }
    return String.join(File.pathSeparator, entries);
  }

  /** A jar's artifact name: its file name without the version (directories are their own name). */
  private static String artifactOf(String entry) {
    String file = Path.of(entry).getFileName().toString();
    return file.endsWith(".jar") ? file.replaceFirst("-\\d.*$", "") : entry;
  }

  /** Until {@code signer} holds the Lease {@code lease} in {@code namespace}; fails if it exits or after 60 s. */
  static void awaitLeader(KubernetesClient admin, String namespace, String lease, Process signer) {
    org.awaitility.Awaitility.await("signer " + lease + " to lead").atMost(java.time.Duration.ofSeconds(60))
        .pollInterval(java.time.Duration.ofMillis(200)).until(() -> {
          if (!signer.isAlive()) {
            throw new IllegalStateException("the signer exited with " + signer.exitValue());
          }
          var l = admin.leases().inNamespace(namespace).withName(lease).get();
          // Its informers list right after it acquires the Lease; the warm-up burst covers that.
          return l != null && l.getSpec() != null && lease.equals(l.getSpec().getHolderIdentity());
        });
  }

  /**
   * Approves every new CSR of a signer name through /approval, as an approving controller would: KCM's,
   * and the kube-mtls signer's in a {@code sign:} variant. Its CPU is this driver's.
   */
  static final class Approver implements AutoCloseable {
    private final ExecutorService pool = Executors.newFixedThreadPool(8);
    private final Watch watch;

    Approver(KubernetesClient admin, String signerName) {
      watch = admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", signerName)
          .watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, CertificateSigningRequest csr) {
              if (action != Action.ADDED || (csr.getStatus() != null && csr.getStatus().getConditions() != null
                  && !csr.getStatus().getConditions().isEmpty())) {
                return;
              }
              pool.execute(() -> {
                CertificateSigningRequest copy = new CertificateSigningRequestBuilder(csr).build();
                if (copy.getStatus() == null) {
                  copy.setStatus(new CertificateSigningRequestStatus());
                }
                String now = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString();
                copy.getStatus().setConditions(List.of(new CertificateSigningRequestConditionBuilder()
                    .withType("Approved").withStatus("True").withReason("BenchApproved").withMessage("bench")
                    .withLastUpdateTime(now).withLastTransitionTime(now).build()));
                try {
                  admin.certificates().v1().certificateSigningRequests().resource(copy).subresource("approval")
                      .update();
                } catch (RuntimeException e) {
                  System.err.println("approval of " + csr.getMetadata().getName() + " failed: " + e);
                }
              });
            }

            @Override
            public void onClose(WatcherException cause) {}
          });
    }

    @Override
    public void close() {
      watch.close();
      pool.shutdownNow();
    }
  }

  /** {@code apiserver_request_total} summed by verb/resource/subresource for CSRs, Pods and Services. */
  private static Map<String, Double> requestCounts(KubernetesClient admin) {
    String text = admin.raw(admin.getMasterUrl().toString().replaceAll("/$", "") + "/metrics");
    if (text == null) {
      throw new IllegalStateException("the apiserver's /metrics did not answer");
    }
    Map<String, Double> out = new TreeMap<>();
    for (String line : text.split("\n")) {
      Matcher m = REQUEST_TOTAL.matcher(line);
      if (!m.matches()) {
        continue;
      }
      Map<String, String> labels = new LinkedHashMap<>();
      for (String kv : m.group(1).split(",")) {
        int eq = kv.indexOf('=');
        labels.put(kv.substring(0, eq), kv.substring(eq + 2, kv.length() - 1));
      }
      String resource = labels.getOrDefault("resource", "");
      if (!COUNTED.contains(resource)) {
        continue;
      }
      String sub = labels.getOrDefault("subresource", "");
      String key = labels.get("verb") + " " + resource + (sub.isEmpty() ? "" : "/" + sub);
      out.merge(key, Double.parseDouble(m.group(2)), Double::sum);
    }
    return out;
  }

  /** The machine's 1-minute load average (other processes on a shared machine), or "?" where unknown. */
  private static String loadAverage() {
    try {
      return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
    } catch (java.io.IOException | RuntimeException e) {
      return "?";
    }
  }

  private static String format(Map<String, Double> calls) {
    StringBuilder b = new StringBuilder();
    calls.forEach((k, v) -> b.append(b.length() == 0 ? "" : ", ").append(k).append(' ')
        .append(String.format(Locale.ROOT, "%.2f", v)));
    return b.toString();
  }

  private static ProcessHandle descendant(String binary) {
    return ProcessHandle.current().descendants()
        .filter(p -> p.info().command().map(c -> c.endsWith("/" + binary)).orElse(false))
        .findFirst().orElseThrow(() -> new IllegalStateException("no " + binary + " process under this JVM"));
  }

  /** The process's user+system CPU time, from /proc (the JDK's ProcessHandle.Info has no fresh reading). */
  static Duration cpu(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
      return Duration.ofMillis(ticks * 10);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read the CPU time of process " + pid, e);
    }
  }

  private static double per100(Duration cpu, int count) {
    return cpu.toNanos() / 1e9 * 100.0 / count;
  }

  static double pct(List<Long> sorted, double p) {
    int i = (int) Math.ceil(p * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i))) / 1e6;
  }

  static void create(KubernetesClient client, String signerName, List<String> usages, List<String> pems,
      int concurrency, Map<String, Long> starts) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(concurrency);
    AtomicInteger next = new AtomicInteger();
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < concurrency; t++) {
      futures.add(pool.submit(() -> {
        int i;
        while ((i = next.getAndIncrement()) < pems.size()) {
          long start = System.nanoTime();
          CertificateSigningRequest csr = new CertificateSigningRequestBuilder().withNewMetadata()
              .withGenerateName("bench-").endMetadata().withNewSpec().withSignerName(signerName)
              .withRequest(Base64.getEncoder().encodeToString(pems.get(i).getBytes(StandardCharsets.US_ASCII)))
              .withUsages(usages).withExpirationSeconds(600).endSpec().build();
          String name = client.certificates().v1().certificateSigningRequests().resource(csr).create()
              .getMetadata().getName();
          starts.put(name, start);
        }
        return null;
      }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
  }

  static List<String> csrs(int n, String spiffe, String dns) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    List<String> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      KeyPair kp = g.generateKeyPair();
      ExtensionsGenerator ext = new ExtensionsGenerator();
      ext.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
          new GeneralName(GeneralName.uniformResourceIdentifier, spiffe), new GeneralName(GeneralName.dNSName, dns)}));
      var b = new JcaPKCS10CertificationRequestBuilder(new X500Name(""), kp.getPublic())
          .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
      out.add(Pem.encode("CERTIFICATE REQUEST",
          b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate())).getEncoded()));
    }
    return out;
  }
}
