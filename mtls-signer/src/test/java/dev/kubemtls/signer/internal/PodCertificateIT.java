package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.files.FileMaterialSource;
import dev.kubemtls.core.files.FileTrustSource;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.testing.ProjectedVolume;
import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PodCertificateRequests on the real control plane (kube-apiserver serving them in
 * {@code certificates.k8s.io/v1} on 1.37, in {@code v1beta1} with the beta gate on 1.35 and 1.36;
 * the Node authorizer and NodeRestriction), served by the signer replica of {@link SignerFixture}
 * ({@code --pod-certificates=true}, acting with the shipped RBAC). The requests are written and read
 * as plain JSON in the served version ({@link PodCertificateRequests}), not through the signer's
 * own typed adapter.
 *
 * <p>Each request is created as the kubelet of the release creates it: as the node
 * ({@code system:node:<name>} in {@code system:nodes}, authenticated by a client certificate from
 * the cluster CA), for a Pod bound to that Node, with a fresh key and, from 1.36, a stub PKCS#10
 * request signed with it (the only form {@code v1} has); on 1.35 the PKIX key with a real proof of
 * possession (the Pod UID signed as the kubelet signs it: ECDSA over SHA-256 in ASN.1 form, RSA-PSS
 * with SHA-256, Ed25519 over the raw bytes), so each key type and refusal can be chosen. The
 * handoff test here writes the issued key and chain in the kubelet's credential-bundle layout with
 * {@link ProjectedVolume} and reads them with {@link FileMaterialSource}; mtls-netty's
 * {@code PodCertificateKubeletIT} has a real (hollow) kubelet write the volume.
 */
class PodCertificateIT {

  private static final AtomicInteger NODES = new AtomicInteger();
  private static final List<KubernetesClient> CLIENTS = new ArrayList<>();

  private final SignerFixture fx = SignerFixture.get();
  /** The served version: v1 on 1.37, v1beta1 on 1.35 and 1.36. */
  private final String version = PodCertificateRequests.version(fx.admin);
  /** Whether requests carry a stub request (1.36+) rather than key and proof (1.35). */
  private static final boolean STUB = PodCertificateRequests.stubForm(ControlPlane.kubernetesMinor());

  @AfterAll
  static void closeClients() {
    CLIENTS.forEach(KubernetesClient::close);
  }

  /** A namespace opted in to the bundle, a Node, ServiceAccount web, Pod web-0 on the Node, Service web. */
  private record Setup(String namespace, Node node, ServiceAccount serviceAccount, Pod pod, KubernetesClient asNode) {
    String spiffeId() {
      return "spiffe://cluster.local/ns/" + namespace + "/sa/web";
    }
  }

  private Setup setup(String prefix) {
    String ns = fx.cp.createNamespace(prefix, Map.of(SignerFixture.OPT_IN, "true"));
    Node node = fx.admin.nodes().resource(new NodeBuilder().withNewMetadata()
        .withName("pcr-node-" + NODES.incrementAndGet() + "-" + ns).endMetadata().build()).create();
    fx.cp.ensureServiceAccount(ns, "web");
    ServiceAccount sa = fx.admin.serviceAccounts().inNamespace(ns).withName("web").get();
    Pod pod = fx.admin.pods().inNamespace(ns).resource(withPodCertificateVolumes(new PodBuilder()
        .withNewMetadata().withName("web-0").addToLabels("app", "web").endMetadata()
        .withNewSpec().withServiceAccountName("web").withAutomountServiceAccountToken(false)
        .withNodeName(node.getMetadata().getName())
        .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/app:test").endContainer()
        .endSpec().build())).create();
    fx.admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
        .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    return new Setup(ns, node, sa, pod, asNode(node.getMetadata().getName()));
  }

  /** The signer names the tests request certificates from. */
  private static final List<String> SIGNERS = List.of(SignerFixture.SIGNER_NAME, "example.com/other",
      "kube-mtls.dev/short", "kube-mtls.dev/skewed");

  /**
   * {@code pod} with a {@code podCertificate} projected volume for each of {@link #SIGNERS}: from
   * 1.37 NodeRestriction admits a node's request only for a signer that one of the Pod's volumes
   * names (as the kubelet only asks for those).
   */
  private static Pod withPodCertificateVolumes(Pod pod) {
    for (int i = 0; i < SIGNERS.size(); i++) {
      pod.getSpec().getVolumes().add(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName("pc-" + i)
          .withNewProjected().addNewSource().withNewPodCertificate().withSignerName(SIGNERS.get(i))
          .withKeyType("ECDSAP256").withCredentialBundlePath("credentialbundle.pem").endPodCertificate().endSource()
          .endProjected().build());
    }
    return pod;
  }

  /**
   * A client acting as the kubelet of {@code nodeName}: the test kit's client certificate for
   * {@code system:node:<name>} in {@code system:nodes} (an EC key), issued by the cluster CA.
   */
  private KubernetesClient asNode(String nodeName) {
    KubernetesClient client = new KubernetesClientBuilder().withConfig(new ConfigBuilder(
        io.fabric8.kubernetes.client.Config.fromKubeconfig(fx.cp.writeNodeKubeconfig(nodeName).toFile()))
        .withClientKeyAlgo("EC").build()).build();
    synchronized (CLIENTS) {
      CLIENTS.add(client);
    }
    return client;
  }

  /** A key of the kubelet's {@code keyType} and its proof of possession over {@code podUid}. */
  private record KeyAndProof(KeyPair keys, byte[] proof) {}

  private static KeyAndProof keyAndProof(String keyType, String podUid) throws Exception {
    byte[] uid = podUid.getBytes(StandardCharsets.UTF_8);
    KeyPairGenerator generator;
    Signature signature;
    switch (keyType) {
      case "ECDSAP256", "ECDSAP384", "ECDSAP521" -> {
        generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp" + keyType.substring(6) + "r1"));
        // Go's ecdsa.SignASN1 over sha256(uid): what SHA256withECDSA computes, in the same DER form.
        signature = Signature.getInstance("SHA256withECDSA");
      }
      case "RSA3072", "RSA2048" -> {
        generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(Integer.parseInt(keyType.substring(3)));
        signature = Signature.getInstance("RSASSA-PSS");
        signature.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
      }
      case "ED25519" -> {
        generator = KeyPairGenerator.getInstance("Ed25519");
        signature = Signature.getInstance("Ed25519");
      }
      default -> throw new IllegalArgumentException(keyType);
    }
    KeyPair keys = generator.generateKeyPair();
    signature.initSign(keys.getPrivate());
    signature.update(uid);
    return new KeyAndProof(keys, signature.sign());
  }

  private GenericKubernetesResource request(Setup s, String signerName, KeyAndProof key, int maxExpirationSeconds,
      Map<String, String> userAnnotations) {
    Map<String, Object> spec = new java.util.LinkedHashMap<>();
    spec.put("signerName", signerName);
    spec.put("podName", s.pod().getMetadata().getName());
    spec.put("podUID", s.pod().getMetadata().getUid());
    spec.put("serviceAccountName", "web");
    spec.put("serviceAccountUID", s.serviceAccount().getMetadata().getUid());
    spec.put("nodeName", s.node().getMetadata().getName());
    spec.put("nodeUID", s.node().getMetadata().getUid());
    spec.put("maxExpirationSeconds", maxExpirationSeconds);
    if (STUB) {
      spec.put("stubPKCS10Request", PodCertificateRequests.stub(key.keys()));
    } else {
      spec.put("pkixPublicKey", Base64.getEncoder().encodeToString(key.keys().getPublic().getEncoded()));
      spec.put("proofOfPossession", Base64.getEncoder().encodeToString(key.proof()));
    }
    if (!userAnnotations.isEmpty()) {
      spec.put("unverifiedUserAnnotations", userAnnotations);
    }
    return PodCertificateRequests.request(version, s.namespace(), spec);
  }

  /**
   * Creates the request as the node. NodeRestriction reads the Pod, Node and ServiceAccount from
   * informers: right after they were created it may not see them yet and answers with an error
   * that is not a 403 (retryable, as the kubelet retries); a 403 or 422 is final.
   */
  private GenericKubernetesResource createAsNode(Setup s, GenericKubernetesResource request) {
    return Awaitility.await("the node's PodCertificateRequest to be admitted").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(100))
        .ignoreExceptionsMatching(e -> e instanceof KubernetesClientException k && k.getCode() != 403
            && k.getCode() != 422)
        .until(() -> PodCertificateRequests.api(s.asNode(), version).inNamespace(s.namespace()).resource(request)
            .create(), r -> r != null);
  }

  private GenericKubernetesResource awaitTerminal(String namespace, String name) {
    return Awaitility.await("PodCertificateRequest " + namespace + "/" + name + " to be Issued, Denied or Failed")
        .atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(50))
        .until(() -> PodCertificateRequests.api(fx.admin, version).inNamespace(namespace).withName(name).get(),
            r -> r != null && !PodCertificateRequests.conditions(r).isEmpty());
  }

  private static Condition onlyCondition(GenericKubernetesResource r) {
    assertThat(PodCertificateRequests.conditions(r)).hasSize(1);
    return PodCertificateRequests.conditions(r).get(0);
  }

  private static String status(GenericKubernetesResource r, String field) {
    return PodCertificateRequests.status(r, field);
  }

  private String bundlePem(String namespace) {
    return Awaitility.await("the bundle ConfigMap in " + namespace).atMost(Duration.ofSeconds(30))
        .until(() -> fx.admin.configMaps().inNamespace(namespace).withName(SignerFixture.BUNDLE).get(),
            cm -> cm != null).getData().get("ca.crt");
  }

  @Test
  void issuesTheSpiffeIdAndServiceNamesWithTheChainAndTimesInOneUpdate() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-issue");
    double issuedBefore = fx.registry.counter("kubemtls.signer.podcertificates.issued").count();
    KeyAndProof key = keyAndProof("ECDSAP256", s.pod().getMetadata().getUid());
    GenericKubernetesResource created = createAsNode(s, request(s, SignerFixture.SIGNER_NAME, key, 86_400, Map.of()));
    Instant createdAt = Instant.now();
    GenericKubernetesResource done = awaitTerminal(s.namespace(), created.getMetadata().getName());

    Condition issued = onlyCondition(done);
    assertThat(issued.getType()).isEqualTo("Issued");
    assertThat(issued.getStatus()).isEqualTo("True");
    List<X509Certificate> chain = Pem.certificates(status(done, "certificateChain"), "status.certificateChain");
    assertThat(chain).hasSize(2);
    X509Certificate leaf = chain.get(0);
    assertThat(chain.get(1)).isEqualTo(fx.ca.certificate());
    assertThat(leaf.getPublicKey()).isEqualTo(key.keys().getPublic());
    SignerFixture.validate(leaf, bundlePem(s.namespace()));

    List<String> uris = new ArrayList<>();
    List<String> dns = new ArrayList<>();
    List<Object> ips = new ArrayList<>();
    for (List<?> san : leaf.getSubjectAlternativeNames()) {
      switch ((Integer) san.get(0)) {
        case 6 -> uris.add((String) san.get(1));
        case 2 -> dns.add((String) san.get(1));
        case 7 -> ips.add(san.get(1));
        default -> throw new AssertionError("unexpected SAN " + san);
      }
    }
    assertThat(uris).containsExactly(s.spiffeId());
    String ns = s.namespace();
    // Not the bare "web": it names a different Service in every namespace.
    assertThat(dns).containsExactly("web." + ns, "web." + ns + ".svc", "web." + ns + ".svc.cluster.local");
    assertThat(ips).as("the Pod has no IP yet").isEmpty();
    assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
    assertThat(leaf.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");

    Instant notBefore = Instant.parse(status(done, "notBefore"));
    Instant notAfter = Instant.parse(status(done, "notAfter"));
    Instant refresh = Instant.parse(status(done, "beginRefreshAt"));
    assertThat(notBefore).isEqualTo(leaf.getNotBefore().toInstant());
    assertThat(notAfter).isEqualTo(leaf.getNotAfter().toInstant());
    // maxExpirationSeconds 86400 capped at the fixture's --max-ttl of 1h; backdated by at most a minute.
    assertThat(Duration.between(notBefore, notAfter)).isEqualTo(Duration.ofHours(1));
    assertThat(notBefore).isBetween(createdAt.minus(Duration.ofMinutes(2)), createdAt.plusSeconds(5));
    // 70-90 % of the hour (42-54 min), kept 10 minutes before notAfter by the API server's rule.
    assertThat(refresh).isBetween(notBefore.plus(Duration.ofMinutes(42)), notAfter.minus(Duration.ofMinutes(10)));

    Awaitility.await("the issued counter").atMost(Duration.ofSeconds(10)).until(
        () -> fx.registry.counter("kubemtls.signer.podcertificates.issued").count() > issuedBefore);
  }

  @Test
  void issuesRsa3072AndHandsKeyAndChainToTheFileSourceInTheKubeletsLayout(@TempDir Path dir) throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-handoff");
    KeyAndProof key = keyAndProof("RSA3072", s.pod().getMetadata().getUid());
    GenericKubernetesResource created = createAsNode(s, request(s, SignerFixture.SIGNER_NAME, key, 3600, Map.of()));
    GenericKubernetesResource done = awaitTerminal(s.namespace(), created.getMetadata().getName());
    assertThat(onlyCondition(done).getType()).isEqualTo("Issued");
    String chainPem = status(done, "certificateChain");

    // The kubelet's credentialBundlePath: the PKCS#8 key, then the chain, leaf first; and a projected bundle.
    ProjectedVolume credentials = new ProjectedVolume(Files.createDirectory(dir.resolve("credentials")));
    ProjectedVolume bundle = new ProjectedVolume(Files.createDirectory(dir.resolve("bundle")));
    credentials.write(Map.of("credentialbundle.pem",
        Pem.encode("PRIVATE KEY", key.keys().getPrivate().getEncoded()) + chainPem));
    bundle.write(Map.of("ca.crt", bundlePem(s.namespace())));
    ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    try (FileTrustSource trust = FileTrustSource.of(bundle.file("ca.crt"), InstantSource.system(), scheduler,
        Duration.ofMillis(200));
        FileMaterialSource source = FileMaterialSource.forCredentialBundle(credentials.file("credentialbundle.pem"))
            .trust(trust).scheduler(scheduler).pollInterval(Duration.ofMillis(200)).build()) {
      trust.start();
      MtlsMaterial material = source.start().get(30, TimeUnit.SECONDS);
      assertThat(material.identity().leaf()).isEqualTo(Pem.certificates(chainPem, "chain").get(0));
      assertThat(material.identity().privateKey()).isEqualTo(key.keys().getPrivate());
      assertThat(material.trust().certificates()).contains(fx.ca.certificate());
    } finally {
      scheduler.shutdownNow();
    }
  }

  @Test
  void deniesKeysAndAnnotationsOurRulesRefuseWithTheReason() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-deny");
    String uid = s.pod().getMetadata().getUid();
    double deniedBefore = fx.registry.counter("kubemtls.signer.podcertificates.denied", "reason",
        "UnsupportedKeyType").count();
    // The API server accepts P-521 and Ed25519; this signer does not (the same key rules as for CSRs).
    for (String keyType : List.of("ECDSAP521", "ED25519")) {
      GenericKubernetesResource created = createAsNode(s, request(s, SignerFixture.SIGNER_NAME, keyAndProof(keyType, uid),
          3600, Map.of()));
      GenericKubernetesResource done = awaitTerminal(s.namespace(), created.getMetadata().getName());
      Condition denied = onlyCondition(done);
      assertThat(denied.getType()).as(keyType).isEqualTo("Denied");
      assertThat(denied.getReason()).as(keyType).isEqualTo("UnsupportedKeyType");
      assertThat(denied.getMessage()).as(keyType).contains("keyType").contains("ECDSAP256")
          .doesNotContain("is not a PKIX public key");
      assertThat(status(done, "certificateChain")).as(keyType).isNull();
      assertThat(status(done, "beginRefreshAt")).as(keyType).isNull();
    }
    GenericKubernetesResource annotated = createAsNode(s, request(s, SignerFixture.SIGNER_NAME,
        keyAndProof("ECDSAP256", uid), 3600, Map.of("example.com/team", "shop")));
    Condition denied = onlyCondition(awaitTerminal(s.namespace(), annotated.getMetadata().getName()));
    assertThat(denied.getType()).isEqualTo("Denied");
    assertThat(denied.getReason()).isEqualTo("InvalidUnverifiedUserAnnotations");
    assertThat(denied.getMessage()).contains("example.com/team");
    // Each denial is counted after its write, which the test may see first: wait for the counts.
    Awaitility.await("the denials to be counted").atMost(Duration.ofSeconds(10)).until(() -> fx.registry
        .counter("kubemtls.signer.podcertificates.denied", "reason", "UnsupportedKeyType").count() >= deniedBefore + 2);
  }

  /**
   * A second signer replica for its own name ({@code kube-mtls.dev/<suffix>}), CA Secret, bundle,
   * namespace label and Lease, so it never touches what the shared replica serves. The admin acts
   * for it: the shipped RBAC grants "sign" for kube-mtls.dev/workload only.
   */
  private Signer secondSigner(String suffix, ValidityPolicy validity, InstantSource clock, SignerListener listener) {
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls " + suffix + " CA", Duration.ofDays(2),
        ValidityPolicy.DEFAULT, clock, new java.security.SecureRandom());
    fx.admin.secrets().inNamespace(SignerFixture.SIGNER_NS).resource(ca.toSecret(SignerFixture.SIGNER_NS,
        "kube-mtls-ca-" + suffix)).createOr(r -> r.update());
    SignerConfig config = SignerConfig.builder("kube-mtls.dev/" + suffix)
        .caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca-" + suffix)
        .bundle("kube-mtls-" + suffix + "-bundle", "ca.crt").namespaceLabel("kube-mtls.dev/" + suffix + "-bundle=true")
        .validity(validity.minTtl(), validity.maxTtl(), validity.backdate())
        .lease(SignerFixture.SIGNER_NS, "kube-mtls-signer-" + suffix, suffix + "-1")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500))
        .podCertificates(true)
        .build();
    Signer signer = Signer.start(fx.admin, config, ca, clock, listener);
    Awaitility.await("the " + suffix + " signer leads").atMost(Duration.ofSeconds(60)).until(signer::isLeader);
    return signer;
  }

  /**
   * A signer whose {@code --max-ttl} (30 minutes) is below the API server's one-hour minimum
   * cannot issue, and says so with {@code Failed}, through the real status validation (a Failed
   * status carries the condition and nothing else).
   */
  @Test
  void aSignerWhoseMaxTtlIsBelowAnHourFailsTheRequestWithTheReason() throws Exception {
    io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
        new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
    try (Signer shortSigner = secondSigner("short",
        new ValidityPolicy(Duration.ofMinutes(10), Duration.ofMinutes(30), Duration.ofMinutes(5)),
        InstantSource.system(), new SignerMetrics(registry))) {
      Setup s = setup("pcr-fail");
      GenericKubernetesResource created = createAsNode(s, request(s, "kube-mtls.dev/short",
          keyAndProof("ECDSAP256", s.pod().getMetadata().getUid()), 3600, Map.of()));
      GenericKubernetesResource done = awaitTerminal(s.namespace(), created.getMetadata().getName());
      Condition failed = onlyCondition(done);
      assertThat(failed.getType()).isEqualTo("Failed");
      assertThat(failed.getReason()).isEqualTo("LifetimeTooShort");
      assertThat(failed.getMessage()).contains("--max-ttl").contains("PT30M");
      assertThat(status(done, "certificateChain")).isNull();
      // The signer counts a failure after its write, which the test may see first: wait for the count.
      Awaitility.await("the failure to be counted").atMost(Duration.ofSeconds(10)).until(
          () -> registry.counter("kubemtls.signer.podcertificates.failed", "reason", "LifetimeTooShort").count() > 0);
      assertThat(registry.counter("kubemtls.signer.podcertificates.failed", "reason", "LifetimeTooShort").count())
          .isEqualTo(1.0);
    }
  }

  /**
   * A signer whose clock runs 10 minutes ahead issues a certificate whose notBefore the API server
   * refuses (more than 5 minutes from its own clock): the signer does not retry forever, it marks
   * the request {@code Failed} with the API server's words. Only time is faked (an injected clock).
   */
  @Test
  void anIssuedStatusTheApiServerRefusesBecomesFailedWithItsMessage() throws Exception {
    try (Signer skewed = secondSigner("skewed", ValidityPolicy.DEFAULT,
        InstantSource.offset(InstantSource.system(), Duration.ofMinutes(10)), SignerListener.NONE)) {
      Setup s = setup("pcr-skew");
      GenericKubernetesResource created = createAsNode(s, request(s, "kube-mtls.dev/skewed",
          keyAndProof("ECDSAP256", s.pod().getMetadata().getUid()), 3600, Map.of()));
      Condition failed = onlyCondition(awaitTerminal(s.namespace(), created.getMetadata().getName()));
      assertThat(failed.getType()).isEqualTo("Failed");
      assertThat(failed.getReason()).isEqualTo("IssuedStatusRejected");
      assertThat(failed.getMessage()).contains("within 5 minutes").contains("clock");
    }
  }

  @Test
  void ignoresRequestsForAnotherSigner() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-foreign");
    String uid = s.pod().getMetadata().getUid();
    GenericKubernetesResource foreign = createAsNode(s, request(s, "example.com/other", keyAndProof("ECDSAP256", uid),
        3600, Map.of()));
    // Ours, created after the foreign one, is issued: the signer has had its chance at both.
    GenericKubernetesResource ours = createAsNode(s, request(s, SignerFixture.SIGNER_NAME, keyAndProof("ECDSAP256", uid),
        3600, Map.of()));
    assertThat(onlyCondition(awaitTerminal(s.namespace(), ours.getMetadata().getName())).getType()).isEqualTo("Issued");
    GenericKubernetesResource after = PodCertificateRequests.api(fx.admin, version).inNamespace(s.namespace())
        .withName(foreign.getMetadata().getName()).get();
    assertThat(PodCertificateRequests.conditions(after)).as("the foreign request is untouched").isEmpty();
  }

  @Test
  void theApiServerRefusesWeakKeysForeignPodsAndBadProofsBeforeTheSignerSeesThem() throws Exception {
    Setup s = setup("pcr-apiserver");
    String uid = s.pod().getMetadata().getUid();
    // RSA 2048: the API server accepts only 3072 and 4096 bits.
    assertThatThrownBy(() -> createAsNode(s, request(s, SignerFixture.SIGNER_NAME, keyAndProof("RSA2048", uid), 3600,
        Map.of()))).isInstanceOfSatisfying(KubernetesClientException.class, e -> {
          assertThat(e.getCode()).isEqualTo(422);
          assertThat(e.getMessage()).contains("3072");
        });
    if (STUB) {
      // A stub request signed by another key than the one it names.
      KeyAndProof key = keyAndProof("ECDSAP256", uid);
      GenericKubernetesResource forged = request(s, SignerFixture.SIGNER_NAME, key, 3600, Map.of());
      @SuppressWarnings("unchecked")
      Map<String, Object> spec = (Map<String, Object>) forged.getAdditionalProperties().get("spec");
      spec.put("stubPKCS10Request", PodCertificateRequests.stub(key.keys(),
          keyAndProof("ECDSAP256", uid).keys().getPrivate()));
      assertThatThrownBy(() -> createAsNode(s, forged)).isInstanceOfSatisfying(KubernetesClientException.class, e -> {
        assertThat(e.getCode()).isEqualTo(422);
        assertThat(e.getMessage()).contains("stubPKCS10Request").contains("invalid signature");
      });
    } else {
      // A proof over another UID.
      assertThatThrownBy(() -> createAsNode(s, request(s, SignerFixture.SIGNER_NAME, keyAndProof("ECDSAP256",
          "not-the-pod-uid"), 3600, Map.of()))).isInstanceOfSatisfying(KubernetesClientException.class, e -> {
            assertThat(e.getCode()).isEqualTo(422);
            assertThat(e.getMessage()).contains("proof-of-possession");
          });
    }
    // Another node asking for this Pod (NodeRestriction).
    Node other = fx.admin.nodes().resource(new NodeBuilder().withNewMetadata()
        .withName("pcr-other-" + NODES.incrementAndGet() + "-" + s.namespace()).endMetadata().build()).create();
    Setup impostor = new Setup(s.namespace(), other, s.serviceAccount(), s.pod(), asNode(other.getMetadata().getName()));
    assertThatThrownBy(() -> createAsNode(impostor, request(impostor, SignerFixture.SIGNER_NAME,
        keyAndProof("ECDSAP256", uid), 3600, Map.of()))).isInstanceOfSatisfying(KubernetesClientException.class,
            e -> {
              assertThat(e.getCode()).isEqualTo(403);
              assertThat(e.getMessage()).contains("is not running on node");
            });
  }

  @Test
  void theSignersServiceAccountMayOnlyReadRequestsAndWriteTheStatusForItsOwnSignerName() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-rbac");
    String uid = s.pod().getMetadata().getUid();
    GenericKubernetesResource foreign = createAsNode(s, request(s, "example.com/other", keyAndProof("ECDSAP256", uid),
        3600, Map.of()));
    try (KubernetesClient signer = fx.cp.clientFor(SignerFixture.SIGNER_NS, "kube-mtls-signer")) {
      var requests = PodCertificateRequests.api(signer, version).inNamespace(s.namespace());
      assertThat(requests.list().getItems()).extracting(r -> r.getMetadata().getName())
          .contains(foreign.getMetadata().getName());
      // Not create (only nodes create them), not delete, not change the object itself.
      assertThatThrownBy(() -> requests.resource(request(s, SignerFixture.SIGNER_NAME, keyAndProof("ECDSAP256", uid),
          3600, Map.of())).create()).isInstanceOfSatisfying(KubernetesClientException.class,
              e -> assertThat(e.getCode()).isEqualTo(403));
      assertThatThrownBy(() -> requests.withName(foreign.getMetadata().getName()).delete())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      GenericKubernetesResource labelled = new GenericKubernetesResourceBuilder(foreign).editMetadata()
          .addToLabels("changed", "yes").endMetadata().build();
      assertThatThrownBy(() -> requests.resource(labelled).update())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
      // The status of another signer's request: RBAC lets /status through, the "sign" check does not.
      GenericKubernetesResource denial = new GenericKubernetesResourceBuilder(foreign).build();
      denial.setAdditionalProperty("status", Map.of("conditions", List.of(Map.of("type", "Denied", "status", "True",
          "reason", "NotOurs", "message", "x", "lastTransitionTime",
          Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString()))));
      assertThatThrownBy(() -> requests.resource(denial).updateStatus())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
            assertThat(e.getCode()).isIn(403, 422);
            assertThat(e.getMessage()).contains("not permitted to \"sign\"");
          });
      // Nothing beyond its role: no Secrets outside its namespace.
      assertThatThrownBy(() -> signer.secrets().inNamespace(s.namespace()).list())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }
  }

  /** The IP SANs of the certificate issued for {@code request}. */
  private List<String> issuedIps(String namespace, GenericKubernetesResource request) throws Exception {
    GenericKubernetesResource done = awaitTerminal(namespace, request.getMetadata().getName());
    assertThat(onlyCondition(done).getType()).isEqualTo("Issued");
    X509Certificate leaf = Pem.certificates(status(done, "certificateChain"), "chain").get(0);
    List<String> ips = new ArrayList<>();
    for (List<?> san : leaf.getSubjectAlternativeNames()) {
      if ((Integer) san.get(0) == 7) {
        ips.add((String) san.get(1));
      }
    }
    return ips;
  }

  /**
   * A Pod on the host network has its node's IP as its own: the signer issues it no IP SAN, while a
   * Pod on the Pod network, on the same node, gets its IP (the API server's Pod status as the
   * kubelet would report it).
   */
  @Test
  void issuesNoIpSanToAHostNetworkPodAndItsOwnIpToAPodOnThePodNetwork() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-hostnet");
    Pod onHost = fx.admin.pods().inNamespace(s.namespace()).resource(withPodCertificateVolumes(new PodBuilder()
        .withNewMetadata().withName("host-0").addToLabels("app", "web").endMetadata()
        .withNewSpec().withServiceAccountName("web").withAutomountServiceAccountToken(false).withHostNetwork(true)
        .withNodeName(s.node().getMetadata().getName())
        .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/app:test").endContainer()
        .endSpec().build())).create();
    setIps(onHost, "192.168.50.10", "192.168.50.10");
    setIps(s.pod(), "192.168.50.10", "10.244.7.5");
    Awaitility.await("both Pods to show their IPs").atMost(Duration.ofSeconds(10)).until(() -> List.of("host-0",
        "web-0").stream().allMatch(n -> fx.admin.pods().inNamespace(s.namespace()).withName(n).get().getStatus()
        .getPodIP() != null));

    Setup host = new Setup(s.namespace(), s.node(), s.serviceAccount(), onHost, s.asNode());
    assertThat(issuedIps(s.namespace(), createAsNode(host, request(host, SignerFixture.SIGNER_NAME,
        keyAndProof("ECDSAP256", onHost.getMetadata().getUid()), 3600, Map.of())))).as("host network").isEmpty();
    assertThat(issuedIps(s.namespace(), createAsNode(s, request(s, SignerFixture.SIGNER_NAME,
        keyAndProof("ECDSAP256", s.pod().getMetadata().getUid()), 3600, Map.of())))).as("Pod network")
        .containsExactly("10.244.7.5");
  }

  private void setIps(Pod pod, String hostIp, String podIp) {
    Pod current = fx.admin.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName())
        .get();
    current.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running").withHostIP(hostIp)
        .addNewHostIP(hostIp).withPodIP(podIp).addNewPodIP(podIp).build());
    fx.admin.pods().inNamespace(pod.getMetadata().getNamespace()).resource(current).updateStatus();
  }

  /**
   * The start-up check finds the version the release serves (v1 on 1.37, v1beta1 on 1.35 and 1.36),
   * and the signer serves that version: the issued request above was created in it.
   */
  @Test
  void theStartUpCheckFindsTheVersionTheReleaseServes() {
    String expected = ControlPlane.kubernetesMinor() >= 37 ? "v1" : "v1beta1";
    assertThat(Signer.requirePodCertificatesServed(fx.admin)).isEqualTo(expected);
    assertThat(version).isEqualTo(expected);
  }

  /**
   * From 1.36 the API server does not look inside the stub request beyond its key and signature: a
   * stub asking for a subject, another namespace's SPIFFE ID, the API server's DNS name and an IP is
   * admitted, and the signer takes nothing but its key. 1.35 has no stub request: the same request
   * arrives there without a key and the API server refuses it.
   */
  @Test
  void takesNothingButTheKeyFromAStubRequestThatAsksForMore() throws Exception {
    fx.awaitLeader();
    Setup s = setup("pcr-stubnames");
    KeyAndProof key = keyAndProof("ECDSAP256", s.pod().getMetadata().getUid());
    var extensions = new org.bouncycastle.asn1.x509.ExtensionsGenerator();
    extensions.addExtension(org.bouncycastle.asn1.x509.Extension.subjectAlternativeName, false,
        new org.bouncycastle.asn1.x509.GeneralNames(new org.bouncycastle.asn1.x509.GeneralName[] {
            new org.bouncycastle.asn1.x509.GeneralName(6, "spiffe://cluster.local/ns/kube-system/sa/admin"),
            new org.bouncycastle.asn1.x509.GeneralName(2, "kubernetes.default.svc"),
            new org.bouncycastle.asn1.x509.GeneralName(7, "10.96.0.1")}));
    String stub = Base64.getEncoder().encodeToString(new org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder(
        new org.bouncycastle.asn1.x500.X500Name("CN=system:admin,O=system:masters"), key.keys().getPublic())
        .addAttribute(org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate())
        .build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withECDSA")
            .build(key.keys().getPrivate())).getEncoded());
    GenericKubernetesResource request = request(s, SignerFixture.SIGNER_NAME, key, 3600, Map.of());
    @SuppressWarnings("unchecked")
    Map<String, Object> spec = (Map<String, Object>) request.getAdditionalProperties().get("spec");
    spec.put("stubPKCS10Request", stub);
    if (!STUB) {
      spec.remove("pkixPublicKey");
      spec.remove("proofOfPossession");
      assertThatThrownBy(() -> createAsNode(s, request)).isInstanceOfSatisfying(KubernetesClientException.class,
          e -> assertThat(e.getCode()).isEqualTo(422));
      return;
    }
    GenericKubernetesResource done = awaitTerminal(s.namespace(), createAsNode(s, request).getMetadata().getName());
    assertThat(onlyCondition(done).getType()).isEqualTo("Issued");
    X509Certificate leaf = Pem.certificates(status(done, "certificateChain"), "chain").get(0);
    assertThat(leaf.getSubjectX500Principal().getName()).isEmpty();
    assertThat(leaf.getPublicKey()).isEqualTo(key.keys().getPublic());
    List<Object> names = new ArrayList<>();
    leaf.getSubjectAlternativeNames().forEach(san -> names.add(san.get(1)));
    String ns = s.namespace();
    assertThat(names).containsExactly(s.spiffeId(), "web." + ns, "web." + ns + ".svc",
        "web." + ns + ".svc.cluster.local");
  }
}
