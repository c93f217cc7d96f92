package dev.kubemtls.bench.signer;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.CertificateAuthority;
import dev.kubemtls.signer.Signer;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Load harness for the signer on the local control plane (not a test): measures the API server's raw
 * CSR create rate (a signer name nobody serves), then issues certificates through a running
 * {@link Signer} and reports issued/s and the create-to-issued latency (p50, p99).
 *
 * <p>Arguments (all optional): {@code count} (default 500), {@code concurrency} of the creating
 * clients (default 8), signer {@code workers} (default 4). CSRs and keys are generated before the
 * clock starts. The workload acts with a Pod-bound ServiceAccount token and asks for its SPIFFE ID and
 * its Service's DNS name, so every approval does the strict policy's Pod and Service lookups.
 */
public final class SignerLoadHarness {

  private static final String SIGNER = "kube-mtls.dev/bench";
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");

  private SignerLoadHarness() {}

  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 500;
    int concurrency = args.length > 1 ? Integer.parseInt(args[1]) : 8;
    int workers = args.length > 2 ? Integer.parseInt(args[2]) : 4;

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
    if (admin.namespaces().withName("kube-mtls-bench").get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("kube-mtls-bench").endMetadata()
          .build()).create();
    }
    String spiffe = "spiffe://cluster.local/ns/" + ns + "/sa/web";
    String dns = "web." + ns + ".svc";

    System.out.printf("generating %d CSRs...%n", 2 * count);
    List<String> raw = csrs(count, spiffe, dns);
    List<String> signed = csrs(count, spiffe, dns);

    try (KubernetesClient workload = cp.clientFor(ns, "web", pod)) {
      // Warm-up: connections, TLS, apiserver caches.
      create(workload, "example.com/bench-raw", csrs(20, spiffe, dns), concurrency, new ConcurrentHashMap<>());

      Map<String, Long> rawStarts = new ConcurrentHashMap<>();
      long rawBegin = System.nanoTime();
      create(workload, "example.com/bench-raw", raw, concurrency, rawStarts);
      double rawSeconds = (System.nanoTime() - rawBegin) / 1e9;
      admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", "example.com/bench-raw")
          .delete();

      CertificateAuthority ca = CertificateAuthority.generate("kube-mtls bench CA", Duration.ofDays(1),
          ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
      SignerConfig config = SignerConfig.builder(SIGNER).caSecret("kube-mtls-bench", "unused")
          .lease("kube-mtls-bench", "bench-signer", "bench").workers(workers).build();
      Map<String, Long> issuedAt = new ConcurrentHashMap<>();
      CountDownLatch allIssued = new CountDownLatch(count);
      Watch watch = admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER)
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
      try (Signer signer = Signer.start(admin, config, ca, InstantSource.system())) {
        while (!signer.isLeader()) {
          Thread.onSpinWait();
          Thread.yield();
        }
        Map<String, Long> starts = new ConcurrentHashMap<>();
        long begin = System.nanoTime();
        create(workload, SIGNER, signed, concurrency, starts);
        double createSeconds = (System.nanoTime() - begin) / 1e9;
        if (!allIssued.await(10, TimeUnit.MINUTES)) {
          throw new IllegalStateException("only " + issuedAt.size() + " of " + count + " issued in 10 minutes");
        }
        long end = issuedAt.values().stream().mapToLong(Long::longValue).max().orElseThrow();
        double seconds = (end - begin) / 1e9;
        List<Long> latencies = new ArrayList<>();
        starts.forEach((name, start) -> latencies.add(issuedAt.get(name) - start));
        latencies.sort(null);
        System.out.printf("%nkube-mtls signer load (%d CSRs, %d creating clients, %d signer workers, %d cores)%n",
            count, concurrency, workers, Runtime.getRuntime().availableProcessors());
        System.out.printf("apiserver raw CSR create rate : %8.1f CSR/s (%d in %.2f s)%n", count / rawSeconds, count,
            rawSeconds);
        System.out.printf("create rate with signer active: %8.1f CSR/s (%.2f s)%n", count / createSeconds,
            createSeconds);
        System.out.printf("issued through the signer     : %8.1f cert/s (%d in %.2f s)%n", count / seconds, count,
            seconds);
        System.out.printf("create-to-issued latency      : p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
            pct(latencies, 0.50), pct(latencies, 0.99), latencies.get(latencies.size() - 1) / 1e6);
      } finally {
        watch.close();
        admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER).delete();
      }
    }
    System.exit(0);
  }

  private static double pct(List<Long> sorted, double p) {
    int i = (int) Math.ceil(p * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i))) / 1e6;
  }

  private static void create(KubernetesClient client, String signerName, List<String> pems, int concurrency,
      Map<String, Long> starts) throws Exception {
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
              .withUsages(USAGES).withExpirationSeconds(600).endSpec().build();
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

  private static List<String> csrs(int n, String spiffe, String dns) throws Exception {
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
