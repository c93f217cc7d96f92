package dev.kubemtls.bench.signer;

import dev.kubemtls.signer.internal.ApiClusterView;
import dev.kubemtls.signer.internal.InformerClusterView;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Heap the approver's caches ({@code --lookups=cache}) retain per 1,000 Pods and 1,000 Services (not
 * a test). Creates {@code pods} Pods (labels, ServiceAccount, Pod IP, as the test kit makes them) and
 * as many headless Services (the test cluster has 254 Service IPs) with a selector on the local control plane, then reads the used heap after full
 * GCs (lowest of five) before and after an {@link InformerClusterView} has listed them. The same is
 * done with informers that keep whole objects, the baseline of the same run.
 *
 * <p>Arguments (optional): {@code pods} (1000).
 */
public final class ClusterViewHeapHarness {

  private ClusterViewHeapHarness() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String ns = cp.createNamespace("heap");
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> futures = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int k = i;
      futures.add(pool.submit(() -> {
        cp.createPod(ns, "pod-" + k, "sa-" + (k % 10), Map.of("app", "app-" + (k % 50), "pod-template-hash",
            "h" + k), "10." + (100 + k / 65536) + "." + (k / 256 % 256) + "." + (k % 256));
        admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("svc-" + k)
            .endMetadata().withNewSpec().withClusterIP("None").addToSelector("app", "app-" + (k % 50)).addNewPort()
            .withPort(443).endPort()
            .endSpec().build()).create();
        return null;
      }));
    }
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
    System.out.printf("created %d Pods and %d Services%n", n, n);

    long base = usedAfterGc();
    InformerClusterView view = new InformerClusterView(admin, new ApiClusterView(admin));
    view.start();
    org.awaitility.Awaitility.await("the caches to sync").atMost(java.time.Duration.ofMinutes(2))
        .pollInterval(java.time.Duration.ofMillis(100)).until(view::synced);
    if (view.services(ns).size() != n || view.pod(ns, "pod-0").isEmpty()) {
      throw new IllegalStateException("the caches do not hold what was created");
    }
    long reduced = usedAfterGc() - base;
    view.close();

    long base2 = usedAfterGc();
    var pods = admin.pods().inAnyNamespace().inform();
    var services = admin.services().inAnyNamespace().inform();
    long full = usedAfterGc() - base2;
    if (pods.getStore().list().size() < n || services.getStore().list().size() < n) {
      throw new IllegalStateException("the full informers do not hold what was created");
    }
    pods.close();
    services.close();
    System.out.printf(Locale.ROOT, "%nheap per 1,000 Pods + 1,000 Services (%d of each, Java %s):%n", n,
        System.getProperty("java.version"));
    System.out.printf(Locale.ROOT, "approver caches (reduced fields): %8.1f KiB%n", reduced * 1000.0 / n / 1024);
    System.out.printf(Locale.ROOT, "informers keeping whole objects : %8.1f KiB (ratio %.2f)%n",
        full * 1000.0 / n / 1024, (double) reduced / full);
    System.exit(0);
  }

  private static long usedAfterGc() throws InterruptedException {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long lowest = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      memory.gc();
      TimeUnit.MILLISECONDS.sleep(50);
      lowest = Math.min(lowest, memory.getHeapMemoryUsage().getUsed());
    }
    return lowest;
  }
}
