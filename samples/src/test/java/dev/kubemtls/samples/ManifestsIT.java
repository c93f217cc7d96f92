package dev.kubemtls.samples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Every manifest we ship, for the samples and for the signer, passes the real apiserver's
 * validation and admission with a server-side dry run, so they cannot rot unnoticed.
 */
class ManifestsIT {

  static final List<String> MANIFESTS = List.of(
      "kube-mtls/deploy/namespace.yaml", "kube-mtls/deploy/signer-rbac.yaml",
      "kube-mtls/deploy/signer-deployment.yaml", "kube-mtls/deploy/signer-networkpolicy.yaml",
      "kube-mtls/deploy/workload-rbac.yaml",
      "k8s/00-namespace.yaml", "k8s/10-workload-rbac.yaml", "k8s/20-echo.yaml", "k8s/30-web.yaml",
      "k8s/40-client.yaml", "k8s/50-spring.yaml", "k8s/60-kafka.yaml", "k8s/70-postgres.yaml",
      "k8s/pod-certificates/50-echo-pod-certificates.yaml");

  @Test
  void everyManifestPassesAServerSideDryRun() throws Exception {
    KubernetesClient admin = ControlPlane.shared().adminClient();
    List<HasMetadata> all = new ArrayList<>();
    for (String manifest : MANIFESTS) {
      try (InputStream in = getClass().getClassLoader().getResourceAsStream(manifest)) {
        assertThat(in).as(manifest + " on the class path").isNotNull();
        List<HasMetadata> items = admin.load(in).items();
        assertThat(items).as(manifest + " holds objects").isNotEmpty();
        all.addAll(items);
      }
    }
    // Namespaces must exist for namespaced objects to be dry-run; create those for real first.
    for (HasMetadata item : all) {
      if (item instanceof Namespace) {
        admin.resource(item).fieldManager("manifests-it").forceConflicts().serverSideApply();
      }
    }
    List<String> applied = new ArrayList<>();
    for (HasMetadata item : all) {
      if (!(item instanceof Namespace)) {
        HasMetadata result = admin.resource(item).dryRun().fieldManager("manifests-it").forceConflicts()
            .serverSideApply();
        assertThat(result.getMetadata().getName()).isEqualTo(item.getMetadata().getName());
        applied.add(item.getKind() + "/" + item.getMetadata().getName());
        if (result instanceof io.fabric8.kubernetes.api.model.apps.Deployment d
            && d.getMetadata().getName().equals("echo-pc")) {
          // The API server drops a podCertificate source when its gate is off: it must have kept it.
          var source = d.getSpec().getTemplate().getSpec().getVolumes().stream()
              .filter(v -> v.getName().equals("pod-certificate")).findFirst().orElseThrow()
              .getProjected().getSources().get(0).getPodCertificate();
          assertThat(source).as("the podCertificate projection survives admission").isNotNull();
          assertThat(source.getSignerName()).isEqualTo("kube-mtls.dev/workload");
          assertThat(source.getCredentialBundlePath()).isEqualTo("credentialbundle.pem");
        }
      }
    }
    assertThat(applied).contains("Deployment/kube-mtls-signer", "Deployment/echo", "Deployment/web",
        "Deployment/client", "Deployment/spring", "Deployment/echo-pc",
        "ClusterRole/kube-mtls-signer-pod-certificates", "ClusterRole/kube-mtls-workload-csr",
        "ClusterRoleBinding/kube-mtls-demo-workloads-csr");
    // A dry run persists nothing.
    assertThat(admin.apps().deployments().inNamespace("kube-mtls-demo").withName("echo").get()).isNull();
  }
}
