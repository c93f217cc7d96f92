package dev.kubemtls.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestConditionBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.awaitility.Awaitility;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What every backend of the test control plane must be: real authentication, RBAC, the CSR API
 * and a signer. {@link ControlPlaneSmokeIT} runs it on the shared control plane (whichever backend
 * was chosen), {@link KubeconfigBackendIT} through a kubeconfig.
 */
abstract class ControlPlaneContract {

  /** The control plane under test; kube-controller-manager (or the cluster's own) must be running. */
  abstract ControlPlane cp();

  private KubernetesClient admin;

  @BeforeEach
  void admin() {
    admin = cp().adminClient();
  }

  @Test
  void workloadCsrCarriesApiserverFilledIdentityAndWorkloadCannotApproveIt() throws Exception {
    ControlPlane cp = cp();
    String ns = cp.createNamespace("smoke");
    // The workload may create CSRs and even reach the approval subresource, but it holds no
    // "approve" permission on any signer: the apiserver's signer check must stop it.
    String role = ns + "-csr-requester";
    admin.rbac().clusterRoles().resource(new ClusterRoleBuilder().withNewMetadata().withName(role).endMetadata()
        .withRules(new PolicyRuleBuilder().withApiGroups("certificates.k8s.io")
                .withResources("certificatesigningrequests").withVerbs("create", "get").build(),
            new PolicyRuleBuilder().withApiGroups("certificates.k8s.io")
                .withResources("certificatesigningrequests/approval").withVerbs("update").build())
        .build()).create();
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata()
        .withName(role).endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("ClusterRole").withName(role).endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("app").withNamespace(ns).endSubject().build()).create();

    Pod pod = cp.createPod(ns, "app-0", "app", Map.of("app", "demo"), "10.9.8.7");
    assertThat(pod.getStatus().getPodIP()).isEqualTo("10.9.8.7");

    try (KubernetesClient workload = cp.clientFor(ns, "app", pod)) {
      CertificateSigningRequest created = workload.certificates().v1().certificateSigningRequests()
          .resource(csr("smoke-" + ns, "example.com/smoke", List.of("client auth"), "CN=app")).create();

      assertThat(created.getSpec().getUsername()).isEqualTo("system:serviceaccount:" + ns + ":app");
      assertThat(created.getSpec().getGroups()).contains("system:serviceaccounts", "system:serviceaccounts:" + ns);
      assertThat(created.getSpec().getExtra()).containsEntry("authentication.kubernetes.io/pod-name", List.of("app-0"));
      assertThat(created.getSpec().getExtra()).containsEntry("authentication.kubernetes.io/pod-uid",
          List.of(pod.getMetadata().getUid()));

      created.getStatus().setConditions(List.of(approved()));
      assertThatThrownBy(() -> workload.certificates().v1().certificateSigningRequests()
          .resource(created).approve())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> {
            assertThat(e.getCode()).isEqualTo(403);
            assertThat(e.getMessage()).contains("not permitted to approve requests with signerName \"example.com/smoke\"");
          });
    }

    CertificateSigningRequest approved = admin.certificates().v1().certificateSigningRequests()
        .withName("smoke-" + ns).approve();
    assertThat(approved.getStatus().getConditions()).extracting(CertificateSigningRequestCondition::getType)
        .containsExactly("Approved");
  }

  @Test
  void builtInSignerIssuesAClientCertificateThatAuthenticates() throws Exception {
    ControlPlane cp = cp();
    String name = "smoke-kcm-" + System.nanoTime();
    KeyPair key = TestCa.newKeyPair();
    CertificateSigningRequest request = new CertificateSigningRequestBuilder(
        csr(name, "kubernetes.io/kube-apiserver-client", List.of("client auth"), "CN=smoke-user,O=smoke-group", key))
        .editSpec().withExpirationSeconds(600).endSpec().build();
    admin.certificates().v1().certificateSigningRequests().resource(request).create();
    admin.certificates().v1().certificateSigningRequests().withName(name).approve();

    CertificateSigningRequest issued = Awaitility.await("kube-controller-manager signs " + name)
        .atMost(Duration.ofSeconds(60))
        .until(() -> admin.certificates().v1().certificateSigningRequests().withName(name).get(),
            c -> c.getStatus() != null && c.getStatus().getCertificate() != null
                && !c.getStatus().getCertificate().isEmpty());

    X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(
        new ByteArrayInputStream(Base64.getDecoder().decode(issued.getStatus().getCertificate())));
    assertThat(cert.getSubjectX500Principal().getName()).contains("CN=smoke-user");
    assertThat(cert.getPublicKey()).isEqualTo(key.getPublic());
    // Signed by the apiserver's client CA, as the apiserver itself publishes it.
    assertThat(signedByOneOf(cert, clientCas())).as("signed by a client CA of the apiserver").isTrue();
    // The built-in signer honours expirationSeconds (600 s) and backdates notBefore.
    long lifetime = cert.getNotAfter().getTime() - cert.getNotBefore().getTime();
    assertThat(Duration.ofMillis(lifetime)).isBetween(Duration.ofMinutes(10), Duration.ofMinutes(16));

    // The certificate is real: the apiserver authenticates it as the requested user.
    var config = new io.fabric8.kubernetes.client.ConfigBuilder(io.fabric8.kubernetes.client.Config.empty())
        .withMasterUrl(cp.apiServerUrl())
        .withCaCertData(b64(cp.clusterCaPem()))
        .withClientCertData(b64(TestCa.toPem(cert)))
        .withClientKeyData(b64(TestCa.toPem(key.getPrivate())))
        .withClientKeyAlgo("EC").build();
    try (KubernetesClient asUser = new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(config).build()) {
      var review = asUser.resource(new io.fabric8.kubernetes.api.model.authentication.SelfSubjectReviewBuilder()
          .build()).create();
      assertThat(review.getStatus().getUserInfo().getUsername()).isEqualTo("smoke-user");
      assertThat(review.getStatus().getUserInfo().getGroups()).contains("smoke-group");
    }
  }

  @Test
  void certificatesApisAreServedAsTheReleaseServesThem() {
    ControlPlane cp = cp();
    if (cp.clusterMinor() >= 37) {
      // A stock 1.37 cluster: the stable APIs, no beta.
      assertThat(admin.supports("certificates.k8s.io/v1", "ClusterTrustBundle")).isTrue();
      assertThat(admin.supports("certificates.k8s.io/v1", "PodCertificateRequest")).isTrue();
      assertThat(admin.supports("certificates.k8s.io/v1beta1", "ClusterTrustBundle")).isFalse();
    } else {
      assertThat(admin.supports("certificates.k8s.io/v1beta1", "ClusterTrustBundle")).isTrue();
      assertThat(admin.supports("certificates.k8s.io/v1beta1", "PodCertificateRequest")).isTrue();
    }
  }

  @Test
  void testPodsKeepTheirIpAndAreNeverScheduled() {
    ControlPlane cp = cp();
    String ns = cp.createNamespace("smoke-pod");
    Pod pod = cp.createPod(ns, "p", "sa", Map.of(), "10.1.2.3");
    Pod read = admin.pods().inNamespace(ns).withName("p").get();
    assertThat(read.getStatus().getPodIP()).isEqualTo("10.1.2.3");
    assertThat(read.getSpec().getNodeName()).isNull();
    assertThat(read.getSpec().getSchedulingGates()).extracting(g -> g.getName())
        .containsExactly(ControlPlane.TEST_POD_SCHEDULING_GATE);
    assertThat(read.getMetadata().getUid()).isEqualTo(pod.getMetadata().getUid());
  }

  private List<X509Certificate> clientCas() throws Exception {
    var published = admin.configMaps().inNamespace("kube-system").withName("extension-apiserver-authentication").get();
    assertThat(published).as("kube-system/extension-apiserver-authentication").isNotNull();
    String pem = published.getData().get("client-ca-file");
    assertThat(pem).as("client-ca-file").isNotBlank();
    List<X509Certificate> out = new java.util.ArrayList<>();
    for (var c : CertificateFactory.getInstance("X.509").generateCertificates(
        new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
      out.add((X509Certificate) c);
    }
    return out;
  }

  private static boolean signedByOneOf(X509Certificate cert, List<X509Certificate> cas) {
    for (X509Certificate ca : cas) {
      try {
        cert.verify(ca.getPublicKey());
        return cert.getIssuerX500Principal().equals(ca.getSubjectX500Principal());
      } catch (java.security.GeneralSecurityException e) {
        // not this one
      }
    }
    return false;
  }

  private static CertificateSigningRequestCondition approved() {
    return new CertificateSigningRequestConditionBuilder().withType("Approved").withStatus("True")
        .withReason("SelfApproval").withMessage("a workload trying to approve itself").build();
  }

  private static CertificateSigningRequest csr(String name, String signer, List<String> usages, String subject)
      throws Exception {
    return csr(name, signer, usages, subject, TestCa.newKeyPair());
  }

  private static CertificateSigningRequest csr(String name, String signer, List<String> usages, String subject,
      KeyPair key) throws Exception {
    var pkcs10 = new JcaPKCS10CertificationRequestBuilder(new X500Name(subject), key.getPublic())
        .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
    String pem = TestCa.toPem(pkcs10);
    return new CertificateSigningRequestBuilder().withNewMetadata().withName(name).endMetadata()
        .withNewSpec().withSignerName(signer).withUsages(usages)
        .withRequest(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)))
        .endSpec().build();
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }
}
