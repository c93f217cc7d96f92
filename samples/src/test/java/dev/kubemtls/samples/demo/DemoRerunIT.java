package dev.kubemtls.samples.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.junit.jupiter.api.Test;

/**
 * {@code ./demo --kubeconfig=FILE}, twice on the same cluster, through the demo's setup part (the
 * manifests, the CA Secret, the Pods, the signer until it publishes the bundle): the first run may
 * meet a fresh cluster, the second meets everything the first left and must adopt or remove it,
 * saying which. The kubeconfig is the control plane's admin kubeconfig, whose client key is an EC
 * key in PKCS#8 form with no {@code client-key-algo}: the form fabric8 alone takes for RSA.
 */
class DemoRerunIT {

  private static final List<String> APPS = List.of("kube-mtls/kube-mtls-signer-0", "kube-mtls-demo/echo-0",
      "kube-mtls-demo/web-0", "kube-mtls-demo/client-0");

  @Test
  void aSecondRunOnTheSameClusterStartsAfreshFromAnEcPkcs8Kubeconfig() throws Exception {
    ControlPlane cp = ControlPlane.shared();
    Path kubeconfig = inlineKubeconfig(cp);
    Config plain = Config.fromKubeconfig(Files.readString(kubeconfig));
    assertThat(plain.getClientKeyAlgo()).as("the kubeconfig names no key algorithm").isIn(null, "RSA");
    String keyPem = new String(Base64.getDecoder().decode(plain.getClientKeyData()), StandardCharsets.US_ASCII);
    assertThat(Pem.blocks(keyPem, "client key")).singleElement().satisfies(b -> {
      assertThat(b.type()).isEqualTo("PRIVATE KEY");
      assertThat(PrivateKeyInfo.getInstance(b.der()).getPrivateKeyAlgorithm().getAlgorithm())
          .as("an EC key (this test needs the embedded control plane, whose admin key is one)")
          .isEqualTo(X9ObjectIdentifiers.id_ecPublicKey);
    });
    assertThatThrownBy(() -> {
      try (KubernetesClient c = new KubernetesClientBuilder().withConfig(plain).build()) {
        c.namespaces().list();
      }
    }).as("fabric8 alone cannot use this kubeconfig").hasStackTraceContaining("Invalid DER");

    String first = setUp(kubeconfig);
    KubernetesClient admin = cp.adminClient();
    Map<String, String> firstUids = podUids(admin);
    String firstCa = caPem(admin);

    String second = setUp(kubeconfig);
    assertThat(second).contains("using the cluster at " + cp.apiServerUrl())
        .containsPattern("adopted \\d+ of them that already existed")
        .contains("removed what an earlier run left, to make it anew:")
        .contains("Pod kube-mtls/kube-mtls-signer-0", "Pod kube-mtls-demo/echo-0",
            "Secret kube-mtls/kube-mtls-ca", "ConfigMap kube-mtls-demo/kube-mtls-ca-bundle")
        .contains("CA bundle published in kube-mtls-demo/kube-mtls-ca-bundle");
    Map<String, String> secondUids = podUids(admin);
    assertThat(secondUids.keySet()).containsExactlyElementsOf(APPS);
    for (String pod : APPS) {
      assertThat(secondUids.get(pod)).as("%s is a new Pod", pod).isNotEqualTo(firstUids.get(pod));
    }
    String secondCa = caPem(admin);
    assertThat(secondCa).as("a new CA").isNotEqualTo(firstCa);
    ConfigMap bundle = admin.configMaps().inNamespace("kube-mtls-demo").withName("kube-mtls-ca-bundle").get();
    assertThat(Pem.certificates(bundle.getData().get("ca.crt"), "bundle"))
        .as("the bundle the second run's signer published holds exactly its CA")
        .containsExactlyElementsOf(Pem.certificates(secondCa, "CA Secret"));
    assertThat(first).contains("CA bundle published");
  }

  /**
   * The control plane's admin kubeconfig with its certificate and key inline
   * ({@code client-key-data}), as kubeconfigs handed around usually are.
   */
  private static Path inlineKubeconfig(ControlPlane cp) throws Exception {
    Config admin = Config.fromKubeconfig(Files.readString(cp.writeAdminKubeconfig()));
    String text = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + admin.getMasterUrl()
        + "\n    certificate-authority-data: " + data(admin.getCaCertData(), admin.getCaCertFile())
        + "\nusers:\n- name: admin\n  user:\n    client-certificate-data: "
        + data(admin.getClientCertData(), admin.getClientCertFile())
        + "\n    client-key-data: " + data(admin.getClientKeyData(), admin.getClientKeyFile())
        + "\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: admin\ncurrent-context: c\n";
    Path file = Files.createTempFile("demo-rerun-", ".kubeconfig");
    file.toFile().deleteOnExit();
    Files.writeString(file, text);
    return file;
  }

  private static String data(String inline, String file) throws Exception {
    return inline != null ? inline : Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of(file)));
  }

  /** The demo's setup part with {@code --kubeconfig}; returns what it said. */
  private static String setUp(Path kubeconfig) throws Exception {
    ByteArrayOutputStream said = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(said, true, StandardCharsets.UTF_8);
    Demo demo = new Demo(DemoOptions.parse(new String[] {"--kubeconfig=" + kubeconfig, "--duration=30s"}), out);
    try {
      demo.setUp();
    } finally {
      demo.stopChildren();
      System.out.print(said.toString(StandardCharsets.UTF_8).indent(2));
    }
    return said.toString(StandardCharsets.UTF_8);
  }

  private static Map<String, String> podUids(KubernetesClient admin) {
    Map<String, String> uids = new LinkedHashMap<>();
    for (String app : APPS) {
      String[] ns = app.split("/");
      Pod pod = admin.pods().inNamespace(ns[0]).withName(ns[1]).get();
      if (pod != null) {
        uids.put(app, pod.getMetadata().getUid());
      }
    }
    return uids;
  }

  private static String caPem(KubernetesClient admin) {
    Secret ca = admin.secrets().inNamespace("kube-mtls").withName("kube-mtls-ca").get();
    return new String(Base64.getDecoder().decode(ca.getData().get("tls.crt")), StandardCharsets.US_ASCII);
  }
}
