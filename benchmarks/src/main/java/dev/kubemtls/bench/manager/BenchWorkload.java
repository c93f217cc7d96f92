package dev.kubemtls.bench.manager;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Map;

/**
 * What the manager harnesses measure against: a workload namespace opted in to the bundle (Pod
 * {@code web-0} of ServiceAccount {@code web} with a Service {@code web}, the workload's RBAC) and a
 * signer of its own for it, named {@code kube-mtls.dev/bench-<name>} with its CA Secret and Lease in
 * namespace {@code kube-mtls-bench-<name>}.
 *
 * @param signerName the signer name the workload asks for
 * @param namespace  the workload's namespace
 * @param pod        the workload's Pod
 * @param identity   the workload's identity (its Pod, IP and Service)
 */
record BenchWorkload(ControlPlane cp, String signerName, String namespace, Pod pod, WorkloadIdentity identity,
    CertificateAuthority ca, SignerConfig config) {

  /** Creates the namespace, Pod, Service, RBAC and the signer's CA Secret; {@code name} tells harnesses apart. */
  static BenchWorkload create(String name, String podIp) {
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String signerNs = "kube-mtls-bench-" + name;
    String optIn = "kube-mtls.dev/bench-" + name + "-bundle";
    if (admin.namespaces().withName(signerNs).get() == null) {
      admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(signerNs).endMetadata()
          .build()).create();
    }
    String ns = cp.createNamespace("bench-" + name, Map.of(optIn, "true"));
    Pod pod = cp.createPod(ns, "web-0", "web", Map.of("app", "web"), podIp);
    admin.services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("web").endMetadata()
        .withNewSpec().addToSelector("app", "web").addNewPort().withPort(443).endPort().endSpec().build()).create();
    grantWorkload(admin, ns, name);
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls bench CA", Duration.ofDays(1),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    admin.secrets().inNamespace(signerNs).resource(ca.toSecret(signerNs, "bench-ca")).forceConflicts()
        .serverSideApply();
    String signerName = "kube-mtls.dev/bench-" + name;
    SignerConfig config = SignerConfig.builder(signerName).caSecret(signerNs, "bench-ca")
        .namespaceLabel(optIn + "=true").lease(signerNs, "bench-" + name + "-signer", "bench").build();
    return new BenchWorkload(cp, signerName, ns, pod, identity(ns, podIp), ca, config);
  }

  /** The workload's identity in {@code ns} (for a child JVM that gets only the namespace and IP). */
  static WorkloadIdentity identity(String ns, String podIp) {
    return WorkloadIdentity.builder(ns, "web").podName("web-0").podIp(podIp).services("web").build();
  }

  /** Starts the in-process signer, acting as the admin. */
  Signer startSigner() {
    return Signer.start(cp.adminClient(), config, ca, InstantSource.system());
  }

  /** A client acting as the workload: its ServiceAccount's token bound to its Pod. */
  KubernetesClient client() {
    return cp.clientFor(namespace, "web", pod);
  }

  /** The workload's RBAC as in deploy/workload-rbac.yaml, plus ConfigMap create/delete for the baselines. */
  private static void grantWorkload(KubernetesClient admin, String ns, String name) {
    String role = "bench-" + name + "-csr-" + ns;
    admin.rbac().clusterRoles().resource(new ClusterRoleBuilder().withNewMetadata().withName(role).endMetadata()
        .withRules(new PolicyRuleBuilder().withApiGroups("certificates.k8s.io")
            .withResources("certificatesigningrequests").withVerbs("create", "get", "list", "watch", "delete")
            .build()).build()).create();
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder().withNewMetadata().withName(role)
        .endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName(role).endRoleRef().addNewSubject().withKind("ServiceAccount").withName("web").withNamespace(ns)
        .endSubject().build()).create();
    admin.rbac().roles().inNamespace(ns).resource(new RoleBuilder().withNewMetadata().withName("bench-bundle")
        .endMetadata().withRules(new PolicyRuleBuilder().withApiGroups("").withResources("configmaps")
            .withResourceNames(Defaults.TRUST_BUNDLE_CONFIGMAP).withVerbs("get", "list", "watch").build(),
            new PolicyRuleBuilder().withApiGroups("").withResources("configmaps")
                .withVerbs("create", "get", "delete").build()).build()).create();
    admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("bench-bundle").endMetadata().withNewRoleRef().withApiGroup("rbac.authorization.k8s.io")
        .withKind("Role").withName("bench-bundle").endRoleRef().addNewSubject().withKind("ServiceAccount")
        .withName("web").withNamespace(ns).endSubject().build()).create();
  }
}
