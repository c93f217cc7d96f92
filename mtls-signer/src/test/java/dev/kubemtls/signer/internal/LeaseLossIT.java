package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.time.InstantSource;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * A leader that can no longer renew its Lease stops acting within the renew deadline, before the
 * Lease expires and another replica could take over.
 */
class LeaseLossIT {

  @Test
  void aLeaderThatCannotRenewStopsActing() {
    SignerFixture fx = SignerFixture.get();
    String sa = "lease-loss-signer";
    String lease = "lease-loss-test";
    fx.cp.ensureServiceAccount(SignerFixture.SIGNER_NS, sa);
    fx.admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata().withName(sa)
        .endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName("kube-mtls-signer").endRoleRef().addNewSubject().withKind("ServiceAccount").withName(sa)
        .withNamespace(SignerFixture.SIGNER_NS).endSubject().build()).create();
    fx.admin.rbac().roles().inNamespace(SignerFixture.SIGNER_NS).resource(leaseRole(sa, lease, true)).create();
    fx.admin.rbac().roleBindings().inNamespace(SignerFixture.SIGNER_NS).resource(new RoleBindingBuilder()
        .withNewMetadata().withName(sa).endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("Role").withName(sa).endRoleRef().addNewSubject().withKind("ServiceAccount").withName(sa)
        .withNamespace(SignerFixture.SIGNER_NS).endSubject().build()).create();

    // Its own signer name and Lease: it never competes with the fixture's replicas.
    SignerConfig config = SignerConfig.builder("kube-mtls.dev/lease-loss-test").caSecret(SignerFixture.SIGNER_NS,
            "kube-mtls-ca").lease(SignerFixture.SIGNER_NS, lease, "lonely")
        .leaderElectionTiming(Duration.ofSeconds(6), Duration.ofSeconds(3), Duration.ofMillis(500)).build();
    try (KubernetesClient client = fx.cp.clientFor(SignerFixture.SIGNER_NS, sa);
        Signer signer = Signer.start(client, config, fx.ca, InstantSource.system())) {
      Awaitility.await("leading").atMost(Duration.ofSeconds(30)).until(signer::isLeader);

      fx.admin.rbac().roles().inNamespace(SignerFixture.SIGNER_NS).resource(leaseRole(sa, lease, false)).update();
      long lost = System.nanoTime();
      Awaitility.await("no longer leading").atMost(Duration.ofSeconds(30)).until(() -> !signer.isLeader());
      // Renew deadline (3 s) plus one retry period and scheduling slack, but well inside the Lease (6 s).
      assertThat(Duration.ofNanos(System.nanoTime() - lost)).isLessThan(Duration.ofSeconds(6));
    }
  }

  private static io.fabric8.kubernetes.api.model.rbac.Role leaseRole(String name, String lease, boolean canRenew) {
    RoleBuilder b = new RoleBuilder().withNewMetadata().withName(name).endMetadata()
        .addToRules(new PolicyRuleBuilder().withApiGroups("coordination.k8s.io").withResources("leases")
            .withVerbs("create").build())
        .addToRules(new PolicyRuleBuilder().withApiGroups("coordination.k8s.io").withResources("leases")
            .withResourceNames(lease).withVerbs(canRenew ? new String[] {"get", "patch"} : new String[] {"get"})
            .build());
    return b.build();
  }
}
