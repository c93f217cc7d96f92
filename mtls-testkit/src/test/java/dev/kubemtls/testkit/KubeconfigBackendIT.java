package dev.kubemtls.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kubeconfig backend (also what the k3s backend becomes once its container runs): the whole
 * contract, run through nothing but an admin kubeconfig of the shared control plane, plus what
 * it must refuse, loudly.
 */
class KubeconfigBackendIT extends ControlPlaneContract {

  private static ControlPlane viaKubeconfig;

  @BeforeAll
  static void connect() {
    // The cluster behind the kubeconfig runs its own kube-controller-manager, as real clusters do.
    ControlPlane embedded = ControlPlane.sharedWithControllerManager();
    viaKubeconfig = ControlPlane.connect(embedded.writeAdminKubeconfig());
  }

  @AfterAll
  static void close() {
    if (viaKubeconfig != null) {
      viaKubeconfig.close();
    }
  }

  @Override
  ControlPlane cp() {
    return viaKubeconfig;
  }

  @Test
  void isTheSameClusterSeenThroughTheKubeconfig() {
    ControlPlane embedded = ControlPlane.shared();
    assertThat(viaKubeconfig.apiServerUrl()).isEqualTo(embedded.apiServerUrl());
    assertThat(viaKubeconfig.clusterCaPem()).isEqualTo(embedded.clusterCaPem());
    assertThat(viaKubeconfig.description()).contains("kubeconfig");
    String ns = viaKubeconfig.createNamespace("via-kubeconfig");
    assertThat(embedded.adminClient().namespaces().withName(ns).get()).isNotNull();
  }

  @Test
  void aWorkloadKubeconfigActsAsItsServiceAccount() {
    String ns = viaKubeconfig.createNamespace("kubeconfig-for");
    Pod pod = viaKubeconfig.createPod(ns, "w", "worker", Map.of(), "10.4.5.6");
    Path file = viaKubeconfig.writeKubeconfigFor(ns, "worker", pod, Duration.ofMinutes(20));
    var config = io.fabric8.kubernetes.client.Config.fromKubeconfig(file.toFile());
    try (var client = new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(config).build()) {
      var review = client.resource(new io.fabric8.kubernetes.api.model.authentication.SelfSubjectReviewBuilder()
          .build()).create();
      assertThat(review.getStatus().getUserInfo().getUsername()).isEqualTo("system:serviceaccount:" + ns + ":worker");
      assertThat(review.getStatus().getUserInfo().getExtra())
          .containsEntry("authentication.kubernetes.io/pod-name", java.util.List.of("w"));
    }
  }

  @Test
  void cannotStopTheApiserverOfAClusterItDoesNotOwnAndSaysWhatToDo() {
    assertThatThrownBy(viaKubeconfig::stopApiServer).isInstanceOf(UnsupportedOperationException.class)
        .hasMessageContaining("cannot stop the apiserver")
        .hasMessageContaining("needs the embedded control plane");
    assertThatThrownBy(viaKubeconfig::startApiServer).isInstanceOf(UnsupportedOperationException.class);
    assertThat(ControlPlane.shared().adminClient().namespaces().list()).isNotNull();
  }

  @Test
  void refusesAKubeconfigWhoseUserIsNotAClusterAdmin() {
    ControlPlane embedded = ControlPlane.shared();
    String ns = embedded.createNamespace("not-admin");
    Pod pod = embedded.createPod(ns, "p", "plain", Map.of(), null);
    Path workload = embedded.writeKubeconfigFor(ns, "plain", pod, Duration.ofMinutes(20));
    assertThatThrownBy(() -> ControlPlane.connect(workload)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("is not a cluster admin")
        .hasMessageContaining("use the kubeconfig of a cluster-admin user");
  }

  @Test
  void refusesAMissingFileAndAClusterThatDoesNotAnswer(@TempDir Path dir) throws IOException {
    Path missing = dir.resolve("nope.kubeconfig");
    assertThatThrownBy(() -> ControlPlane.connect(missing)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining(missing + " is not a readable file");

    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }
    String admin = Files.readString(ControlPlane.shared().writeAdminKubeconfig());
    Path dead = dir.resolve("dead.kubeconfig");
    Files.writeString(dead, admin.replace(ControlPlane.shared().apiServerUrl(), "https://127.0.0.1:" + closedPort));
    assertThatThrownBy(() -> ControlPlane.connect(dead)).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("did not answer")
        .hasMessageContaining("https://127.0.0.1:" + closedPort);
  }

  @Test
  void closingDeletesTheNamespacesItCreatedOnAClusterThatOutlivesTheTests() {
    ControlPlane embedded = ControlPlane.shared();
    String ns;
    try (ControlPlane other = ControlPlane.connect(embedded.writeAdminKubeconfig())) {
      ns = other.createNamespace("deleted-on-close");
    }
    // Without a namespace controller the namespace stays Terminating; with one it goes away.
    Awaitility.await("namespace " + ns + " deleted").atMost(Duration.ofSeconds(30)).until(() -> {
      Namespace n = embedded.adminClient().namespaces().withName(ns).get();
      return n == null || n.getMetadata().getDeletionTimestamp() != null;
    });
    // The shared embedded control plane is untouched by that close.
    assertThat(embedded.adminClient().namespaces().withName("default").get()).isNotNull();
  }
}
