package dev.kubemtls.signer.it;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.internal.CaRotation;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.SignerListener;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;

/**
 * An in-process signer on the shared real control plane with short timings, for integration tests
 * of the Netty and Jetty integrations: certificates live 20 s, a new CA is trusted
 * {@value #TRUST_BEFORE_SIGN_SECONDS} s before it signs and a former CA leaves the bundle 2 s after
 * the last certificate it signed expired. Workloads renew at 40-60% of the lifetime, not the
 * default 70-90%: with 20 s certificates the default leaves a renewal 2-6 s before expiry, which a
 * loaded machine has used up (a renewal CSR created 2.4 s late at load 20 let a certificate
 * expire); 8-12 s keeps the margin that hours give in production. Each
 * instance has its own signerName, CA Secret namespace, Lease and namespace opt-in label, so it
 * never collides with other signers on the same control plane. The signer acts as the admin.
 *
 * <p>Workloads are started as a pod would start them: a Pod (with an IP) running as a
 * ServiceAccount, a Service selecting it, the workload RBAC that {@code deploy/workload-rbac.yaml}
 * ships, and a {@link KubeMtls} acting with a token bound to that Pod.
 */
public final class ShortLivedSigner implements AutoCloseable {

  /** The longest (and shortest) certificate lifetime this signer issues. */
  public static final Duration CERT_TTL = Duration.ofSeconds(20);
  /**
   * How long a new CA is in every bundle before it signs: the time each workload's trust watch has
   * to deliver it (a renewed identity that its own trust does not chain to yet is refused, and a
   * peer's lagging trust refuses the handshake).
   */
  public static final int TRUST_BEFORE_SIGN_SECONDS = 10;
  /** Where in a certificate's lifetime the workloads renew; see the class comment. */
  public static final double RENEW_FROM = 0.4;
  public static final double RENEW_TO = 0.6;
  private static final String CA_SECRET = "it-ca";
  private static final AtomicInteger POD_IPS = new AtomicInteger();

  private final ControlPlane cp = ControlPlane.shared();
  private final KubernetesClient admin = cp.adminClient();
  private final String signerName;
  private final String caNamespace;
  private final String optInLabel;
  private final Signer signer;
  private final List<Workload> workloads = new CopyOnWriteArrayList<>();
  /** The CA rotation changes the signer reported, in order. */
  public final List<CaRotation.Change> caChanges = new CopyOnWriteArrayList<>();
  /** The bundle ConfigMaps the signer put back, as {@code namespace/name reason}, in order. */
  public final List<String> bundleRepairs = new CopyOnWriteArrayList<>();

  /** How the workloads trust: KubeMtls's default (ClusterTrustBundles where served), or the signed ConfigMap. */
  public enum Trust { DEFAULT, CONFIG_MAP }

  private final Trust trust;

  /** Starts a signer whose names all derive from {@code id} (lower-case letters, digits, dashes). */
  public ShortLivedSigner(String id) {
    this(id, Trust.DEFAULT);
  }

  /** As {@link #ShortLivedSigner(String)}, with workloads trusting as {@code trust} says. */
  public ShortLivedSigner(String id, Trust trust) {
    this.trust = java.util.Objects.requireNonNull(trust, "trust");
    signerName = "kube-mtls-it.dev/" + id;
    optInLabel = "kube-mtls-it.dev/" + id;
    applyWorkloadRbac();
    caNamespace = cp.createNamespace(id + "-signer");
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls " + id + " CA 1", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(caNamespace).resource(ca.toSecret(caNamespace, CA_SECRET)).create();
    SignerConfig config = SignerConfig.builder(signerName)
        .caSecret(caNamespace, CA_SECRET)
        .namespaceLabel(optInLabel + "=true")
        .validity(CERT_TTL, CERT_TTL, Duration.ofSeconds(1))
        .caRotation(Duration.ofSeconds(TRUST_BEFORE_SIGN_SECONDS), Duration.ofSeconds(2))
        .lease(caNamespace, "it-signer", id + "-0")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .build();
    signer = Signer.startFromSecret(admin, config, new SignerListener() {
      @Override
      public void caRotation(CaRotation.Change change, CaRotation state) {
        caChanges.add(change);
      }

      @Override
      public void trustBundleRepaired(String configMap, String reason) {
        bundleRepairs.add(configMap + " " + reason);
      }
    });
    Awaitility.await("signer " + signerName + " to lead").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(100)).until(signer::isLeader);
  }

  public String signerName() {
    return signerName;
  }

  /** Creates a namespace that opts in to this signer's trust bundle. */
  public String namespace(String prefix) {
    return cp.createNamespace(prefix, Map.of(optInLabel, "true"));
  }

  /**
   * Starts a workload {@code namespace/serviceAccount}: Pod {@code <sa>-0} with a fresh IP, a Service
   * {@code <sa>} selecting it, RBAC bindings, and a KubeMtls renewing at 40-60% of the lifetime
   * (with no 30 s floor: the certificates live 20 s), waiting until it is ready.
   */
  public Workload workload(String namespace, String serviceAccount) throws InterruptedException {
    int n = POD_IPS.incrementAndGet();
    String ip = "10.91." + (n / 250) + "." + (n % 250 + 1);
    Pod pod = cp.createPod(namespace, serviceAccount + "-0", serviceAccount, Map.of("app", serviceAccount), ip);
    admin.services().inNamespace(namespace).resource(new ServiceBuilder().withNewMetadata()
        .withName(serviceAccount).endMetadata().withNewSpec().addToSelector("app", serviceAccount)
        .addNewPort().withPort(443).endPort().endSpec().build()).create();
    bindWorkload(admin, namespace, serviceAccount);
    Workload w = new Workload(namespace, serviceAccount, ip, cp.clientFor(namespace, serviceAccount, pod));
    KubeMtls.Builder builder = KubeMtls.forWorkload(w.client)
        .identity(WorkloadIdentity.builder(namespace, serviceAccount).podName(pod.getMetadata().getName())
            .podIp(ip).services(serviceAccount).build())
        .signerName(signerName)
        .rotationPolicy(RotationPolicy.builder().renewalWindow(RENEW_FROM, RENEW_TO)
            .minimumRenewalDelay(Duration.ofSeconds(1)).build())
        .issuanceTimeout(Duration.ofSeconds(30))
        .listener(w.events);
    if (trust == Trust.CONFIG_MAP) {
      builder.trustConfigMap();
    }
    w.mtls = builder.start();
    workloads.add(w);
    w.mtls.awaitReady(Duration.ofSeconds(60));
    return w;
  }

  /**
   * The rotation scenario of the integration ITs: waits until every workload has renewed once,
   * rotates the CA, waits until the rotation completed ({@link #awaitCaRotationCompleted}) and
   * until every workload has renewed at least {@code renewals} times.
   *
   * @return the new CA
   */
  public CertificateAuthority renewAndRotateCa(int renewals, Duration step) {
    for (Workload w : workloads) {
      w.awaitRotations(1, step);
    }
    CertificateAuthority next = rotateCa();
    awaitCaRotationCompleted(next, step.multipliedBy(3));
    for (Workload w : workloads) {
      w.awaitRotations(renewals, step);
    }
    return next;
  }

  /** What went wrong for any workload so far (failed or denied renewals, expiries). */
  public List<String> problems() {
    List<String> all = new java.util.ArrayList<>();
    for (Workload w : workloads) {
      for (String p : w.events.problems) {
        all.add(w.serviceAccount + ": " + p);
      }
    }
    return all;
  }

  /** Writes a new CA into the CA Secret: the documented trigger of a CA rotation. */
  public CertificateAuthority rotateCa() {
    return Signer.writeNewCa(admin, caNamespace, CA_SECRET, Duration.ofDays(1));
  }

  /**
   * Waits until the rotation to {@code next} completed: the bundle ConfigMap of every workload's
   * namespace holds only {@code next}, and every workload's current identity was issued by it.
   */
  public void awaitCaRotationCompleted(CertificateAuthority next, Duration atMost) {
    Awaitility.await("CA rotation to " + next.certificate().getSubjectX500Principal().getName() + " to complete")
        .atMost(atMost).pollInterval(Duration.ofMillis(250)).until(() -> {
          for (Workload w : workloads) {
            if (!bundleIsOnly(w.namespace, next.certificate()) || !issuedBy(w.mtls.current(), next.certificate())) {
              return false;
            }
          }
          return true;
        });
  }

  /** Whether {@code material}'s leaf certificate was signed by {@code ca}. */
  public static boolean issuedBy(MtlsMaterial material, X509Certificate ca) {
    try {
      material.identity().leaf().verify(ca.getPublicKey());
      return true;
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  private boolean bundleIsOnly(String namespace, X509Certificate ca) {
    ConfigMap cm = admin.configMaps().inNamespace(namespace).withName(KubeMtls.DEFAULT_BUNDLE_CONFIGMAP).get();
    if (cm == null || cm.getData() == null || cm.getData().get("ca.crt") == null) {
      return false;
    }
    return Pem.certificates(cm.getData().get("ca.crt"), "bundle").equals(List.of(ca));
  }

  /**
   * Binds the ClusterRoles of {@code deploy/workload-rbac.yaml} to {@code ns/sa}: the CSR role
   * cluster-wide, the bundle role in its namespace.
   */
  public static void bindWorkload(KubernetesClient admin, String ns, String sa) {
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
        .withName("kube-mtls-workload-csr-" + ns + "-" + sa).endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName("kube-mtls-workload-csr").endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withName(sa).withNamespace(ns).endSubject().build()).create();
    admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("kube-mtls-workload-bundle-" + sa).endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName("kube-mtls-workload-bundle").endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withName(sa).withNamespace(ns).endSubject().build()).create();
  }

  private void applyWorkloadRbac() {
    try (InputStream in = ShortLivedSigner.class.getResourceAsStream("/kube-mtls/deploy/workload-rbac.yaml")) {
      if (in == null) {
        throw new IllegalStateException("kube-mtls/deploy/workload-rbac.yaml is not on the class path");
      }
      for (HasMetadata item : admin.load(in).items()) {
        admin.resource(item).forceConflicts().serverSideApply();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    for (Workload w : workloads) {
      w.mtls.close();
      w.client.close();
    }
    signer.close();
  }

  /** One workload: its KubeMtls and what its manager reported. */
  public static final class Workload {
    public final String namespace;
    public final String serviceAccount;
    public final String podIp;
    final KubernetesClient client;
    KubeMtls mtls;
    public final Events events = new Events();

    Workload(String namespace, String serviceAccount, String podIp, KubernetesClient client) {
      this.namespace = namespace;
      this.serviceAccount = serviceAccount;
      this.podIp = podIp;
      this.client = client;
    }

    public KubeMtls mtls() {
      return mtls;
    }

    /** The DNS name a peer dials: {@code <sa>.<ns>.svc}, which the certificate carries. */
    public String serviceHost() {
      return serviceAccount + "." + namespace + ".svc";
    }

    public String spiffeId() {
      return "spiffe://cluster.local/ns/" + namespace + "/sa/" + serviceAccount;
    }

    /** The serial of the current leaf certificate. */
    public BigInteger serial() {
      return mtls.current().identity().leaf().getSerialNumber();
    }

    /** Waits until the manager has rotated at least {@code n} times. */
    public void awaitRotations(int n, Duration atMost) {
      Awaitility.await(serviceAccount + " to rotate " + n + " times").atMost(atMost.toMillis(), TimeUnit.MILLISECONDS)
          .pollInterval(Duration.ofMillis(200)).until(() -> events.rotations.get() >= n);
    }
  }

  /** Counts what a manager reported; anything that is not a success is kept as a problem. */
  public static final class Events implements ManagerListener {
    public final AtomicInteger rotations = new AtomicInteger();
    public final List<String> problems = new CopyOnWriteArrayList<>();
    /** Trust changes the manager refused (a forged bundle, a bundle its certificate does not chain to). */
    public final List<dev.kubemtls.core.MtlsException> trustRejections = new CopyOnWriteArrayList<>();
    /** Every trust bundle the manager changed to, in order. */
    public final List<dev.kubemtls.core.TrustBundle> trustChanges = new CopyOnWriteArrayList<>();

    @Override
    public void trustRejected(dev.kubemtls.core.MtlsException problem) {
      trustRejections.add(problem);
    }

    @Override
    public void trustChanged(dev.kubemtls.core.TrustBundle previous, dev.kubemtls.core.TrustBundle current) {
      trustChanges.add(current);
    }

    @Override
    public void rotated(MtlsMaterial previous, MtlsMaterial current) {
      rotations.incrementAndGet();
    }

    @Override
    public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
      problems.add("renewal attempt " + attempt + " failed: " + error);
    }

    @Override
    public void denied(dev.kubemtls.core.CertificateDeniedException denial, int attempt, Instant nextAttempt) {
      problems.add("denied: " + denial.getMessage());
    }

    @Override
    public void expired(dev.kubemtls.core.TlsIdentity identity) {
      problems.add("expired: " + identity);
    }
  }

  /**
   * The certificate serials a server's source published, in order, and per new connection the
   * serial that was current before it connected and the one its client saw. Subscribe after the
   * server started: listeners run in subscription order, so a serial is listed here only once the
   * server's own listener has installed it.
   */
  public static final class ServerCertificates implements AutoCloseable {
    private final List<BigInteger> serials = new CopyOnWriteArrayList<>();
    private final List<BigInteger[]> seen = new CopyOnWriteArrayList<>();
    private final MaterialSource.Subscription subscription;

    public ServerCertificates(MaterialSource source) {
      serials.add(source.current().identity().leaf().getSerialNumber());
      subscription = source.subscribe(m -> {
        BigInteger serial = m.identity().leaf().getSerialNumber();
        if (!serials.contains(serial)) {
          serials.add(serial);
        }
      });
    }

    /** The newest serial published so far. */
    public BigInteger latest() {
      return serials.get(serials.size() - 1);
    }

    /** How many certificates the server has had. */
    public int count() {
      return serials.size();
    }

    /** Records that a connection opened when {@code before} was current presented {@code presented}. */
    public void saw(BigInteger before, BigInteger presented) {
      seen.add(new BigInteger[] {before, presented});
    }

    /** The connections that presented an older certificate than the one current before they opened. */
    public List<String> stale() {
      List<String> stale = new java.util.ArrayList<>();
      for (BigInteger[] pair : seen) {
        int presented = serials.indexOf(pair[1]);
        if (presented < 0 || presented < serials.indexOf(pair[0])) {
          stale.add("serial " + pair[1].toString(16) + " presented after " + pair[0].toString(16) + " was current");
        }
      }
      return stale;
    }

    /** How many connections were recorded. */
    public int connections() {
      return seen.size();
    }

    @Override
    public void close() {
      subscription.close();
    }
  }
}
