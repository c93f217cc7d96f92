package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.SIGNER_NAME;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 24's name and requester rules on the real control plane: each case is a CSR created with a
 * real ServiceAccount token (or a real impersonation) and judged by a running signer.
 */
class NameRulesIT {

  private static final String LOOSE = "kube-mtls.dev/h24-loose";
  private static final String BARE = "kube-mtls.dev/h24-bare";
  private static final String LATE = "kube-mtls.dev/h24-late";

  private static SignerFixture fx;
  private static SignerFixture.Workload web;
  private static final List<Signer> started = new ArrayList<>();

  @BeforeAll
  static void setUp() {
    fx = SignerFixture.get();
    fx.awaitLeader();
    web = fx.workload("name-rules");
    started.add(start(SignerConfig.builder(LOOSE).policy(SignerConfig.PolicyMode.LOOSE), "h24-loose"));
    started.add(start(SignerConfig.builder(BARE).bareServiceNames(true), "h24-bare"));
  }

  @AfterAll
  static void tearDown() {
    started.forEach(Signer::close);
  }

  private static Signer start(SignerConfig.Builder builder, String lease) {
    SignerConfig config = builder.caSecret(SignerFixture.SIGNER_NS, "kube-mtls-ca")
        .lease(SignerFixture.SIGNER_NS, lease, lease + "-0")
        .leaderElectionTiming(Duration.ofSeconds(4), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
    return Signer.start(fx.admin, config, fx.ca, InstantSource.system());
  }

  private static void assertDenied(String name, String reason) {
    CertificateSigningRequest done = fx.awaitFinal(name);
    assertThat(done.getStatus().getConditions()).as(name).singleElement().satisfies(c -> {
      assertThat(c.getType()).isEqualTo("Denied");
      assertThat(c.getReason()).isEqualTo(reason);
    });
    assertThat(done.getStatus().getCertificate()).isNullOrEmpty();
  }

  private static void assertIssued(String name) {
    CertificateSigningRequest done = fx.awaitFinal(name);
    assertThat(done.getStatus().getCertificate()).as(name + " " + done.getStatus().getConditions()).isNotEmpty();
  }

  /** A namespace with exactly this name (no suffix), with SA web bound to the workload RBAC. */
  private static void namespaceNamed(String name) {
    if (fx.admin.namespaces().withName(name).get() == null) {
      fx.admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build())
          .create();
      fx.cp.ensureServiceAccount(name, "web");
      fx.bindWorkload(name, "web");
    }
  }

  @Test
  void bareServiceNamesAreDeniedByDefaultAndIssuedOnlyWhenOptedIn() {
    String ns = web.namespace();
    String qualified = "web." + ns + ".svc";
    assertDenied(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).dns("web", qualified)
        .pem(), SERVER_CLIENT), ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    assertIssued(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).dns(qualified).pem(),
        SERVER_CLIENT));
    assertIssued(createCsr(web.client(), BARE, TestCsr.builder().uri(web.spiffeId()).dns("web", qualified).pem(),
        SERVER_CLIENT));
  }

  @Test
  void looseModeGivesNoNamespaceAnotherNamespacesNames() {
    namespaceNamed("svc");
    namespaceNamed("local");
    try (KubernetesClient svc = fx.cp.clientFor("svc", "web");
        KubernetesClient local = fx.cp.clientFor("local", "web")) {
      // What the suffix rule issued before: Service echo of another namespace, and the API server's name.
      assertDenied(createCsr(svc, LOOSE, TestCsr.builder().dns("echo." + web.namespace() + ".svc").pem(),
          SERVER_CLIENT), ApprovalDecision.UNAUTHORIZED_DNS_NAME);
      assertDenied(createCsr(local, LOOSE, TestCsr.builder().dns("kubernetes.default.svc.cluster.local").pem(),
          SERVER_CLIENT), ApprovalDecision.UNAUTHORIZED_DNS_NAME);
      // Their own names still are theirs, a StatefulSet Pod's name included.
      assertIssued(createCsr(svc, LOOSE, TestCsr.builder().dns("echo.svc.svc", "echo-0.echo.svc.svc.cluster.local")
          .pem(), SERVER_CLIENT));
      assertIssued(createCsr(local, LOOSE, TestCsr.builder().dns("echo.local.svc.cluster.local").pem(),
          SERVER_CLIENT));
    }
  }

  @Test
  void aHostNetworkPodGetsNoIpSan() {
    String ns = web.namespace();
    String nodeIp = "192.168.77.7";
    Pod pod = fx.admin.pods().inNamespace(ns).resource(new PodBuilder()
        .withNewMetadata().withName("host-0").withLabels(Map.of("app", "web")).endMetadata()
        .withNewSpec().withServiceAccountName("web").withHostNetwork(true).withAutomountServiceAccountToken(false)
        .addNewSchedulingGate().withName(dev.kubemtls.testkit.ControlPlane.TEST_POD_SCHEDULING_GATE)
        .endSchedulingGate()
        .addNewContainer().withName("app").withImage("registry.invalid/kube-mtls/app:test").endContainer()
        .endSpec().build()).create();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(nodeIp)
        .withPodIPs(new PodIPBuilder().withIp(nodeIp).build()).build());
    pod = fx.admin.pods().inNamespace(ns).resource(pod).updateStatus();
    try (KubernetesClient host = fx.cp.clientFor(ns, "web", pod)) {
      assertDenied(createCsr(host, SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).ip(nodeIp).pem(), SERVER_CLIENT),
          ApprovalDecision.UNAUTHORIZED_IP_ADDRESS);
      assertDenied(createCsr(host, LOOSE, TestCsr.builder().ip(nodeIp).pem(), SERVER_CLIENT),
          ApprovalDecision.UNAUTHORIZED_IP_ADDRESS);
      // Its DNS names and SPIFFE ID it gets.
      assertIssued(createCsr(host, SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).dns("web." + ns + ".svc").pem(),
          SERVER_CLIENT));
    }
    // A Pod on the Pod network still gets its IP.
    assertIssued(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).ip(web.podIp()).pem(),
        SERVER_CLIENT));
  }

  @Test
  void aServiceAccountNameWithoutItsNamespaceGroupIsNotAServiceAccount() {
    String ns = web.namespace();
    // An authenticator that reports the user name and only the cluster-wide group, made real by an
    // impersonation with explicit groups (the API server then adds no ServiceAccount group itself).
    try (KubernetesClient impostor = new KubernetesClientBuilder().withConfig(new ConfigBuilder(fx.cp.adminConfig())
        .withImpersonateUsername("system:serviceaccount:" + ns + ":web")
        .withImpersonateGroups("system:serviceaccounts").build()).build()) {
      String name = createCsr(impostor, SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT);
      CertificateSigningRequest csr = fx.admin.certificates().v1().certificateSigningRequests().withName(name).get();
      assertThat(csr.getSpec().getUsername()).isEqualTo("system:serviceaccount:" + ns + ":web");
      assertThat(csr.getSpec().getGroups()).contains("system:serviceaccounts")
          .doesNotContain("system:serviceaccounts:" + ns);
      assertDenied(name, ApprovalDecision.NOT_SERVICE_ACCOUNT);
    }
  }

  @Test
  void aCsrApprovedByAnotherApproverIsJudgedAgainBeforeItIsSigned() {
    String ns = web.namespace();
    // Created and approved by an administrator holding "approve" before any signer of this name runs.
    String foreign = createCsr(web.client(), LATE, TestCsr.builder().uri(web.spiffeId())
        .dns("web.billing.svc").pem(), SERVER_CLIENT);
    String subject = createCsr(web.client(), LATE, TestCsr.builder().subject("CN=web,O=system:masters")
        .uri(web.spiffeId()).pem(), SERVER_CLIENT);
    String fine = createCsr(web.client(), LATE, TestCsr.builder().uri(web.spiffeId()).dns("web." + ns + ".svc").pem(),
        SERVER_CLIENT);
    for (String name : List.of(foreign, subject, fine)) {
      fx.admin.certificates().v1().certificateSigningRequests().withName(name).approve(
          new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
              .withReason("ApprovedByAdmin").withMessage("approved in the test").build());
    }
    Signer late = start(SignerConfig.builder(LATE), "h24-late");
    try {
      for (Map.Entry<String, String> e : Map.of(foreign, ApprovalDecision.UNAUTHORIZED_DNS_NAME, subject,
          ApprovalDecision.SUBJECT_NOT_ALLOWED).entrySet()) {
        CertificateSigningRequest done = fx.awaitFinal(e.getKey());
        assertThat(done.getStatus().getCertificate()).isNullOrEmpty();
        assertThat(done.getStatus().getConditions()).anySatisfy(c -> {
          assertThat(c.getType()).isEqualTo("Failed");
          assertThat(c.getReason()).isEqualTo(e.getValue());
          assertThat(c.getMessage()).startsWith("approved, but the signer's policy refuses it");
        });
      }
      assertIssued(fine);
    } finally {
      late.close();
    }
  }
}
