package dev.kubemtls.kubernetes.csr;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectAccessReviewBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;

/**
 * The workload RBAC as shipped in {@code mtls-signer/deploy/workload-rbac.yaml} (copied onto the test
 * class path by the build), applied unchanged, and bindings of its ClusterRoles to test workloads.
 */
public final class ShippedWorkloadRbac {

  public static final String CSR_ROLE = "kube-mtls-workload-csr";
  public static final String CLEANUP_ROLE = "kube-mtls-workload-csr-cleanup";
  public static final String BUNDLE_ROLE = "kube-mtls-workload-bundle";
  static final String RESOURCE = "/kube-mtls/deploy/workload-rbac.yaml";

  private ShippedWorkloadRbac() {}

  /** Server-side applies every object of the shipped file, as is. */
  public static void apply(KubernetesClient admin) {
    try (InputStream in = ShippedWorkloadRbac.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(RESOURCE + " is not on the test class path (see mtls-kubernetes/pom.xml)");
      }
      for (HasMetadata item : admin.load(in).items()) {
        admin.resource(item).fieldManager("kube-mtls-tests").forceConflicts().serverSideApply();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Binds the shipped ClusterRole {@code role} to {@code ns/sa}; returns the binding's name. */
  public static String bind(KubernetesClient admin, String role, String ns, String sa) {
    String name = role + "-" + ns + "-" + sa;
    admin.rbac().clusterRoleBindings().resource(new ClusterRoleBindingBuilder()
        .withNewMetadata().withName(name).endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole").withName(role).endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withNamespace(ns).withName(sa).endSubject()
        .build()).create();
    return name;
  }

  /** Binds the shipped ClusterRole {@code role} to {@code ns/sa} in {@code ns} only (a RoleBinding). */
  public static void bindInNamespace(KubernetesClient admin, String role, String ns, String sa) {
    admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder()
        .withNewMetadata().withName(role + "-" + sa).endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole").withName(role).endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withNamespace(ns).withName(sa).endSubject()
        .build()).create();
  }

  /** Whether {@code client}'s user may {@code verb} CertificateSigningRequests, as the API server decides. */
  public static boolean allowed(KubernetesClient client, String verb) {
    SelfSubjectAccessReview review = client.authorization().v1().selfSubjectAccessReview().create(
        new SelfSubjectAccessReviewBuilder().withNewSpec().withNewResourceAttributes()
            .withGroup("certificates.k8s.io").withResource("certificatesigningrequests").withVerb(verb)
            .endResourceAttributes().endSpec().build());
    return Boolean.TRUE.equals(review.getStatus().getAllowed());
  }

  /** Waits until the authorizer's cache has caught up with a new binding. */
  public static void awaitAllowed(KubernetesClient client, String verb) {
    await().atMost(Duration.ofSeconds(30)).until(() -> allowed(client, verb));
  }
}
