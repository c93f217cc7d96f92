package dev.kubemtls.bench.manager;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.testkit.RecordingClient;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Startup time and heap cost of a certificate manager against our signer on the local control plane
 * (a harness with a {@code main}, not a test).
 *
 * <p>Part 1, time to ready: {@code starts} times (default 100), a fresh
 * {@code KubeMtls.forWorkload(client)...start()} followed by {@code awaitReady}: key generation, CSR,
 * approval (the strict policy's Pod and Service lookups), signature, validation, CSR deletion and
 * the trust bundle ConfigMap's list and watch are all inside the measured time; each manager is
 * closed before the next starts. The baseline in the same run is one API server round trip pair,
 * create a ConfigMap then get it, with the same (Pod-bound ServiceAccount) client.
 *
 * <p>Part 2, heap per manager: {@code managers} (default 100) started and ready together on one shared
 * client; used heap after full GCs before and after, divided by their number. The client, the
 * signer and the classes are there before the first measurement, so the figure is what one more
 * manager retains: its key and certificate snapshot, trust bundle, its share of the trust source
 * (and its watches' state in the shared client) and its scheduler thread's Java objects (not its
 * native stack). It also prints the workload client's API requests per start (by kind) and the
 * process's CPU time per start, and the kube-mtls threads per manager at the heap reading.
 *
 * <p>Arguments (optional): {@code starts} {@code managers} {@code warmup} (default 10). System
 * properties: {@code bench.manager.histogram=<rows>} prints the classes whose live objects grew most
 * per manager; {@code bench.manager.httpWatches=true} sets the workload client's
 * {@code onlyHttpWatches} (at most about 90 managers then: the API server's 100 streams per HTTP/2
 * connection). The heap's second reading waits (at most 15 s) until at most one kube-mtls thread
 * per manager is left, so that idle threads have ended.
 */
public final class ManagerStartupHarness {

  private static final String SIGNER = "kube-mtls.dev/bench-manager";

  private ManagerStartupHarness() {}

  public static void main(String[] args) throws Exception {
    int starts = args.length > 0 ? Integer.parseInt(args[0]) : 100;
    int managers = args.length > 1 ? Integer.parseInt(args[1]) : 100;
    int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 10;

    BenchWorkload bench = BenchWorkload.create("manager", "10.98.0.1");
    String ns = bench.namespace();
    WorkloadIdentity identity = bench.identity();

    try (Signer signer = bench.startSigner();
        KubernetesClient token = bench.client();
        // The same client (the Pod-bound token's configuration) with a counter of the requests it sends,
        // WebSocket upgrades (fabric8's watches) counted apart.
        KubernetesClient workload = RecordingClient.of(token, COUNTER)) {
      if (Boolean.getBoolean("bench.manager.httpWatches")) {
        workload.getConfiguration().setOnlyHttpWatches(true);
      }
      // Warm-up (not measured): leader election, bundle publication, connections, JIT.
      for (int i = 0; i < warmup; i++) {
        startReady(workload, identity).close();
        roundTrip(workload, ns, "warm-" + i);
      }

      long[] startNanos = new long[starts];
      long[] rttNanos = new long[starts];
      Map<String, Integer> calls = new java.util.TreeMap<>();
      int callsTotal = 0;
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      long startCpu = 0;
      for (int i = 0; i < starts; i++) {
        COUNTER.calls.clear();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        KubeMtls tls = startReady(workload, identity);
        startNanos[i] = System.nanoTime() - t0;
        startCpu += os.getProcessCpuTime() - cpu0;
        for (String call : COUNTER.calls) {
          calls.merge(call, 1, Integer::sum);
          callsTotal++;
        }
        tls.close();
        rttNanos[i] = roundTrip(workload, ns, "rtt-" + i);
      }

      MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
      int histogramRows = Integer.getInteger("bench.manager.histogram", 0);
      Map<String, long[]> histogramBefore = histogramRows > 0 ? histogram() : Map.of();
      long before = usedAfterGc(memory);
      long threadsBefore = kubeMtlsThreads();
      List<KubeMtls> live = new ArrayList<>(managers);
      for (int i = 0; i < managers; i++) {
        live.add(startReady(workload, identity));
      }
      // Idle threads a manager no longer needs (its second scheduler thread, the Pod Events writer)
      // end after a second of idleness: wait until at most one more kube-mtls thread per manager
      // than before they started is left (its pending renewal timer keeps one), then measure.
      // A manager whose idle timers start a second thread again and again never gets there: then the
      // reading is taken after 15 s all the same, and the threads per manager say so.
      long limit = threadsBefore + managers;
      try {
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(15))
            .pollInterval(java.time.Duration.ofMillis(100))
            .until(() -> kubeMtlsThreads() <= limit);
      } catch (org.awaitility.core.ConditionTimeoutException notSettled) {
        // measured all the same; the threads-per-manager line shows it
      }
      long threadsAfter = kubeMtlsThreads();
      long after = usedAfterGc(memory);
      if (histogramRows > 0) {
        printHistogramGrowth(histogramBefore, histogram(), managers, histogramRows);
      }
      long perManager = (after - before) / managers;
      int ready = (int) live.stream().filter(KubeMtls::isReady).count();
      live.forEach(KubeMtls::close);

      java.util.Arrays.sort(startNanos);
      java.util.Arrays.sort(rttNanos);
      System.out.printf("%nkube-mtls manager startup (%d starts after %d warm-up, %d cores, Java %s)%n", starts,
          warmup, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
      System.out.printf("start() to ready            : p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms%n",
          pct(startNanos, 0.50), pct(startNanos, 0.99), startNanos[starts - 1] / 1e6);
      System.out.printf("ConfigMap create+get (RTT)  : p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms%n",
          pct(rttNanos, 0.50), pct(rttNanos, 0.99), rttNanos[starts - 1] / 1e6);
      System.out.printf("ratio start/RTT             : p50 %7.1f x   p99 %7.1f x%n",
          pct(startNanos, 0.50) / pct(rttNanos, 0.50), pct(startNanos, 0.99) / pct(rttNanos, 0.99));
      System.out.printf("CPU per start               : %7.1f ms (this process until ready: the workload and the"
          + " in-process signer)%n", startCpu / 1e6 / starts);
      System.out.printf("API requests per start      : %7.2f (until ready, the workload's client; per kind:",
          callsTotal / (double) starts);
      calls.forEach((k, v) -> System.out.printf(" %s %.2f;", k, v / (double) starts));
      System.out.printf(")%n");
      System.out.printf("heap per started manager    : %7.1f KiB (%d managers, %d ready; used heap after GC %.1f ->"
          + " %.1f MiB)%n", perManager / 1024.0, managers, ready, before / 1048576.0, after / 1048576.0);
      System.out.printf("kube-mtls threads per manager: %7.2f (at the heap reading; %d before, %d after)%n",
          (threadsAfter - threadsBefore) / (double) managers, threadsBefore, threadsAfter);
    }
    System.exit(0);
  }

  private static final Counter COUNTER = new Counter();

  /** Records each request as "METHOD kind" (kind: the resource, with "watch" for watches). */
  private static final class Counter implements RecordingClient.Recorder {
    final java.util.Queue<String> calls = new java.util.concurrent.ConcurrentLinkedQueue<>();

    @Override
    public void sent(RecordingClient.Request request) {
      String path = request.path();
      String[] parts = path.split("/");
      String kind = parts.length == 0 ? path : parts[parts.length - 1];
      for (String r : new String[] {"certificatesigningrequests", "clustertrustbundles", "configmaps", "events"}) {
        if (path.contains("/" + r)) {
          kind = r;
        }
      }
      if (path.matches("/apis?(/[^/]+){0,2}")) {
        kind = "discovery " + path;
      }
      boolean watch = request.watch() || request.method() == null;
      calls.add((watch ? "WATCH" : request.method()) + " " + kind);
    }
  }

  private static KubeMtls startReady(KubernetesClient client, WorkloadIdentity identity) throws InterruptedException {
    KubeMtls tls = KubeMtls.forWorkload(client).identity(identity).signerName(SIGNER).start();
    tls.awaitReady(Duration.ofSeconds(60));
    return tls;
  }

  /** Creates a ConfigMap and reads it back; returns the nanoseconds both took. Deletes it untimed. */
  private static long roundTrip(KubernetesClient client, String ns, String name) {
    long t0 = System.nanoTime();
    client.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata().withName(name)
        .endMetadata().addToData("k", "v").build()).create();
    client.configMaps().inNamespace(ns).withName(name).get();
    long took = System.nanoTime() - t0;
    client.configMaps().inNamespace(ns).withName(name).delete();
    return took;
  }

  /** Class name to {instances, bytes}, from the live-object class histogram (it runs a full GC). */
  private static Map<String, long[]> histogram() throws Exception {
    String text = (String) ManagementFactory.getPlatformMBeanServer().invoke(
        new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
        new Object[] {null}, new String[] {String[].class.getName()});
    Map<String, long[]> out = new java.util.HashMap<>();
    for (String line : text.split("\\R")) {
      String[] f = line.trim().split("\\s+");
      if (f.length >= 4 && f[0].endsWith(":")) {
        out.merge(f[3], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])},
            (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
      }
    }
    return out;
  }

  /** Prints the classes whose live bytes grew most, per manager. */
  private static void printHistogramGrowth(Map<String, long[]> before, Map<String, long[]> after, int managers,
      int rows) {
    List<Map.Entry<String, long[]>> growth = new ArrayList<>();
    for (Map.Entry<String, long[]> e : after.entrySet()) {
      long[] b = before.getOrDefault(e.getKey(), new long[2]);
      growth.add(Map.entry(e.getKey(), new long[] {e.getValue()[0] - b[0], e.getValue()[1] - b[1]}));
    }
    growth.sort((x, y) -> Long.compare(y.getValue()[1], x.getValue()[1]));
    System.out.printf("%nlive-object growth per manager (class histogram, top %d):%n", rows);
    for (Map.Entry<String, long[]> e : growth.subList(0, Math.min(rows, growth.size()))) {
      System.out.printf("  %9.1f B %7.1f objects  %s%n", e.getValue()[1] / (double) managers,
          e.getValue()[0] / (double) managers, e.getKey());
    }
  }

  private static long usedAfterGc(MemoryMXBean memory) {
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      memory.gc();
      used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
    }
    return used;
  }

  private static double pct(long[] sorted, double p) {
    int i = (int) Math.ceil(p * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
  }

  /** Live threads named kube-mtls-* (the managers' schedulers and Pod Events writers, the signer's). */
  private static long kubeMtlsThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith("kube-mtls-")).count();
  }
}
