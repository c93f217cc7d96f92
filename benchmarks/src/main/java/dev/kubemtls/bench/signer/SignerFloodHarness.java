package dev.kubemtls.bench.signer;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Flood harness for the signer on the local control plane (not a test; issue 24 item 2): does a
 * flood of oversized requests from one ServiceAccount slow down everybody else?
 *
 * <p>Two runs, each against a signer started cold (a new {@code SignerMain} JVM with the shipped
 * defaults: 32 workers, {@code --lookups=cache}): <em>quiet</em>, where {@code count} ordinary CSRs
 * (EC P-256, SPIFFE ID and a Service DNS name, a Pod-bound token, so the strict policy does its
 * lookups) are created by {@code concurrency} clients; and <em>flood</em>, the same while one other
 * ServiceAccount creates {@code flood} CSRs with an RSA key above the signer's 8192-bit limit
 * ({@code keyBits}, default 9216: a real key, because the API server verifies a CSR's signature on
 * create; it accepts RSA keys up to 16384 bits, which take minutes to generate) as fast as
 * {@code concurrency} clients of its own can. Decoding such a key runs BouncyCastle's primality
 * checks on the modulus; the signer reads the size from the encoding and denies the request without
 * decoding, and its fair queue gives one requester at most a quarter of the workers. Reported: the ordinary
 * CSRs' create-to-issued p50 and p99 (as the clients' watch sees them) in each run, their ratio, and
 * how many flood CSRs were created and denied meanwhile.
 *
 * <p>Arguments (optional, in order): {@code count} (500), {@code flood} (3000), {@code concurrency}
 * (8), {@code keyBits} (9216), {@code rounds} (2: quiet, flood, quiet, flood, each against a new
 * signer, so that a change in the machine's other load hits both alike).
 */
public final class SignerFloodHarness {

  private static final String SIGNER = "kube-mtls.dev/flood";
  private static final String SIGNER_NS = "kube-mtls-flood";
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");

  private SignerFloodHarness() {}

  record Run(String name, int count, double p50Ms, double p99Ms, int floodCreated, int floodDenied,
      double seconds) {}

  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 500;
    int flood = args.length > 1 ? Integer.parseInt(args[1]) : 3000;
    int concurrency = args.length > 2 ? Integer.parseInt(args[2]) : 8;
    int keyBits = args.length > 3 ? Integer.parseInt(args[3]) : 9216;
    int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 2;

    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String ns = cp.createNamespace("flood-quiet");
    String floodNs = cp.createNamespace("flood-flooder");
    Pod pod = cp.createPod(ns, "web-0", "web", Map.of("app", "web"), "10.98.0.1");
    admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
        .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    String role = "flood-csr";
    admin.rbac().clusterRoles().resource(new ClusterRoleBuilder().withNewMetadata().withName(role).endMetadata()
        .withRules(new PolicyRuleBuilder().withApiGroups("certificates.k8s.io")
            .withResources("certificatesigningrequests").withVerbs("create", "get", "list", "watch", "delete")
            .build()).build()).createOr(r -> r.update());
    for (String[] subject : List.of(new String[] {ns, "web"}, new String[] {floodNs, "flooder"})) {
      cp.ensureServiceAccount(subject[0], subject[1]);
      admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
          .withName(role + "-" + subject[0]).endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
          .withKind("ClusterRole").withName(role).endRoleRef().addNewSubject().withKind("ServiceAccount")
          .withName(subject[1]).withNamespace(subject[0]).endSubject().build()).create();
    }
    if (admin.namespaces().withName(SIGNER_NS).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(SIGNER_NS).endMetadata()
          .build()).create();
    }
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls flood CA", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(SIGNER_NS).resource(ca.toSecret(SIGNER_NS, "kube-mtls-ca")).create();
    cp.ensureServiceAccount(SIGNER_NS, "flood-signer");
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
        .withName("flood-signer-admin").endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("ClusterRole").withName("cluster-admin").endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("flood-signer").withNamespace(SIGNER_NS).endSubject().build()).createOr(r -> r.update());
    Path kubeconfig = cp.writeKubeconfigFor(SIGNER_NS, "flood-signer", null, Duration.ofHours(2));
    String spiffe = "spiffe://cluster.local/ns/" + ns + "/sa/web";
    String dns = "web." + ns + ".svc";
    System.out.printf("generating %d ordinary CSRs and the oversized one%n", 2 * count);
    List<String> pems = SignerLoadHarness.csrs(count, spiffe, dns);
    String oversized = oversized("spiffe://cluster.local/ns/" + floodNs + "/sa/flooder", keyBits);

    List<Run> runs = new ArrayList<>();
    try (KubernetesClient workload = cp.clientFor(ns, "web", pod);
        KubernetesClient flooder = cp.clientFor(floodNs, "flooder")) {
      // Quiet and flood alternate, so that a change in the machine's other load hits both alike.
      for (int round = 1; round <= rounds; round++) {
        runs.add(run(admin, workload, null, pems, 0, null, concurrency, kubeconfig, "quiet-" + round));
        runs.add(run(admin, workload, flooder, pems, flood, oversized, concurrency, kubeconfig, "flood-" + round));
      }
    }
    System.out.printf(Locale.ROOT, "%nsigner flood (RSA " + keyBits + "): %d ordinary CSRs, %d oversized CSRs from one"
        + " ServiceAccount, %d clients each, %d cores, Java %s%n", count, flood, concurrency,
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
    System.out.println("| run | ordinary p50 ms | ordinary p99 ms | flood CSRs created | flood CSRs denied | seconds |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    for (Run r : runs) {
      System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f | %d | %d | %.1f |%n", r.name(), r.p50Ms(), r.p99Ms(),
          r.floodCreated(), r.floodDenied(), r.seconds());
    }
    for (int i = 0; i + 1 < runs.size(); i += 2) {
      Run quiet = runs.get(i);
      Run loud = runs.get(i + 1);
      System.out.printf(Locale.ROOT, "round %d: p99 flood/quiet %.2fx (aim: at most 2x), p50 flood/quiet %.2fx%n",
          i / 2 + 1, loud.p99Ms() / quiet.p99Ms(), loud.p50Ms() / quiet.p50Ms());
    }
    System.exit(0);
  }

  private static Run run(KubernetesClient admin, KubernetesClient workload, KubernetesClient flooder,
      List<String> pems, int flood, String oversized, int concurrency, Path kubeconfig, String name)
      throws Exception {
    Map<String, Long> issuedAt = new ConcurrentHashMap<>();
    Map<String, Long> starts = new ConcurrentHashMap<>();
    Map<String, Boolean> denied = new ConcurrentHashMap<>();
    String floodUser = flooder == null ? null
        : "system:serviceaccount:" + flooder.getNamespace() + ":flooder";
    CountDownLatch allIssued = new CountDownLatch(pems.size());
    Watch watch = admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER)
        .watch(new Watcher<>() {
          @Override
          public void eventReceived(Action action, CertificateSigningRequest csr) {
            if (csr.getStatus() == null) {
              return;
            }
            if (csr.getStatus().getCertificate() != null && !csr.getStatus().getCertificate().isEmpty()
                && issuedAt.putIfAbsent(csr.getMetadata().getName(), System.nanoTime()) == null) {
              allIssued.countDown();
            } else if (csr.getStatus().getConditions() != null && csr.getStatus().getConditions().stream()
                .anyMatch(c -> c.getType().equals("Denied"))) {
              denied.put(csr.getMetadata().getName(), true);
            }
          }

          @Override
          public void onClose(WatcherException cause) {
            if (cause != null) {
              System.err.println("watch closed: " + cause);
            }
          }
        });
    Process signer = startSigner(kubeconfig, name);
    Thread floodThread = null;
    AtomicReference<Exception> floodError = new AtomicReference<>();
    Map<String, Long> floodStarts = new ConcurrentHashMap<>();
    try {
      SignerLoadHarness.awaitLeader(admin, SIGNER_NS, "flood-" + name, signer);
      long begin = System.nanoTime();
      if (flood > 0) {
        List<String> floodPems = Collections.nCopies(flood, oversized);
        floodThread = new Thread(() -> {
          try {
            SignerLoadHarness.create(flooder, SIGNER, USAGES, floodPems, concurrency, floodStarts);
          } catch (Exception e) {
            floodError.set(e);
          }
        }, "flood");
        floodThread.start();
      }
      SignerLoadHarness.create(workload, SIGNER, USAGES, pems, concurrency, starts);
      if (!allIssued.await(10, TimeUnit.MINUTES)) {
        throw new IllegalStateException(name + ": only " + issuedAt.size() + " of " + pems.size()
            + " issued in 10 minutes");
      }
      double seconds = (System.nanoTime() - begin) / 1e9;
      int floodCreated = floodStarts.size();
      List<Long> latencies = new ArrayList<>();
      starts.forEach((csr, start) -> latencies.add(issuedAt.get(csr) - start));
      latencies.sort(null);
      Run r = new Run(name, pems.size(), SignerLoadHarness.pct(latencies, 0.50),
          SignerLoadHarness.pct(latencies, 0.99), floodCreated,
          (int) floodStarts.keySet().stream().filter(denied::containsKey).count(), seconds);
      System.out.printf(Locale.ROOT, "%-6s ordinary p50 %6.0f ms  p99 %6.0f ms  flood created %d (denied so far %d)"
          + "  %.1f s%n", name, r.p50Ms(), r.p99Ms(), r.floodCreated(), r.floodDenied(), seconds);
      if (floodThread != null) {
        floodThread.join(TimeUnit.MINUTES.toMillis(10));
        if (floodError.get() != null) {
          throw floodError.get();
        }
      }
      if (floodUser != null && floodCreated == 0) {
        throw new IllegalStateException("no flood CSR was created while the ordinary ones were issued");
      }
      return r;
    } finally {
      watch.close();
      signer.destroy();
      signer.waitFor(30, TimeUnit.SECONDS);
      admin.certificates().v1().certificateSigningRequests().withField("spec.signerName", SIGNER).delete();
    }
  }

  /**
   * A CSR with a real RSA key of {@code bits} bits, above the signer's 8192-bit limit, properly signed:
   * the API server verifies a CSR's signature on create, so an attacker needs the key (made once and
   * reused for every flood CSR, as an attacker would).
   */
  static String oversized(String spiffe, int bits) throws Exception {
    long start = System.nanoTime();
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(bits, new SecureRandom());
    KeyPair key = g.generateKeyPair();
    System.out.printf(Locale.ROOT, "generated the %d-bit RSA key in %.1f s%n", bits, (System.nanoTime() - start) / 1e9);
    ExtensionsGenerator ext = new ExtensionsGenerator();
    ext.addExtension(Extension.subjectAlternativeName, false,
        new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, spiffe)));
    var b = new JcaPKCS10CertificationRequestBuilder(new X500Name(""), key.getPublic())
        .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
    return Pem.encode("CERTIFICATE REQUEST",
        b.build(new JcaContentSignerBuilder("SHA256withRSA").build(key.getPrivate())).getEncoded());
  }

  private static Process startSigner(Path kubeconfig, String name) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    File log = Files.createTempFile("kube-mtls-flood-signer-", ".log").toFile();
    List<String> command = new ArrayList<>(List.of(java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"));
    String extra = System.getProperty("bench.signer.jvm", SignerLoadHarness.SIGNER_JVM).trim();
    if (!extra.isEmpty()) {
      command.addAll(List.of(extra.split("\\s+")));
    }
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.kubemtls.signer.SignerMain",
        "--signer-name=" + SIGNER, "--ca-secret-namespace=" + SIGNER_NS, "--lease-name=flood-" + name,
        "--identity=flood-" + name, "--max-ttl=1h", "--metrics-address=off",
        "--namespace-label=kube-mtls.dev/flood-bundle=true"));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log);
    pb.environment().put("KUBECONFIG", kubeconfig.toString());
    System.out.println("signer log: " + log);
    return pb.start();
  }

}
