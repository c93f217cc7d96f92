package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.kubernetes.CertificatesApi;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.NonNamespaceOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * ClusterTrustBundles in whichever version the cluster serves them: {@code certificates.k8s.io/v1}
 * (Kubernetes 1.37 and later) or {@code v1beta1} (1.33 to 1.36), as untyped objects, so that the
 * same code reads and writes both (the two versions have the same fields: {@code spec.signerName}
 * and {@code spec.trustBundle}). The version comes from {@link CertificatesApi#servedVersion}.
 */
public final class ClusterTrustBundles {

  private ClusterTrustBundles() {}

  /** The resource of ClusterTrustBundles in {@code version} ({@code v1} or {@code v1beta1}). */
  public static ResourceDefinitionContext context(String version) {
    requireVersion(version);
    return new ResourceDefinitionContext.Builder().withGroup(CertificatesApi.GROUP).withVersion(version)
        .withKind(CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE.kind())
        .withPlural(CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE.resource()).withNamespaced(false).build();
  }

  /** The operations on ClusterTrustBundles in {@code version}. */
  public static NonNamespaceOperation<GenericKubernetesResource, GenericKubernetesResourceList,
      Resource<GenericKubernetesResource>> resources(KubernetesClient client, String version) {
    return Objects.requireNonNull(client, "client").genericKubernetesResources(context(version));
  }

  /** A new bundle object (not created yet). */
  public static GenericKubernetesResource newBundle(String version, String name, String signerName, String pem) {
    requireVersion(version);
    GenericKubernetesResource bundle = new GenericKubernetesResource();
    bundle.setApiVersion(CertificatesApi.apiVersion(version));
    bundle.setKind(CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE.kind());
    bundle.setMetadata(new ObjectMetaBuilder().withName(Objects.requireNonNull(name, "name")).build());
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("signerName", Objects.requireNonNull(signerName, "signerName"));
    spec.put("trustBundle", Objects.requireNonNull(pem, "pem"));
    bundle.setAdditionalProperty("spec", spec);
    return bundle;
  }

  /** A copy of {@code bundle} whose {@code spec.trustBundle} is {@code pem}; other fields kept. */
  public static GenericKubernetesResource withTrustBundle(GenericKubernetesResource bundle, String pem) {
    GenericKubernetesResource copy = new GenericKubernetesResource();
    copy.setApiVersion(bundle.getApiVersion());
    copy.setKind(bundle.getKind());
    copy.setMetadata(new ObjectMetaBuilder(bundle.getMetadata()).build());
    bundle.getAdditionalProperties().forEach(copy::setAdditionalProperty);
    Map<String, Object> spec = new LinkedHashMap<>(spec(bundle));
    spec.put("trustBundle", Objects.requireNonNull(pem, "pem"));
    copy.setAdditionalProperty("spec", spec);
    return copy;
  }

  /**
   * The PEM text in {@code spec.trustBundle} of a ClusterTrustBundle of any version, typed or
   * untyped; null when absent or not text.
   */
  public static String trustBundle(HasMetadata bundle) {
    Object value = field(bundle, "trustBundle");
    return value instanceof String text ? text : null;
  }

  /** {@code spec.signerName} of a ClusterTrustBundle of any version; null when absent or not text. */
  public static String signerName(HasMetadata bundle) {
    Object value = field(bundle, "signerName");
    return value instanceof String text ? text : null;
  }

  private static Object field(HasMetadata bundle, String name) {
    Objects.requireNonNull(bundle, "bundle");
    if (bundle instanceof io.fabric8.kubernetes.api.model.certificates.v1.ClusterTrustBundle v1) {
      return v1.getSpec() == null ? null
          : "trustBundle".equals(name) ? v1.getSpec().getTrustBundle() : v1.getSpec().getSignerName();
    }
    if (bundle instanceof io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle beta) {
      return beta.getSpec() == null ? null
          : "trustBundle".equals(name) ? beta.getSpec().getTrustBundle() : beta.getSpec().getSignerName();
    }
    if (bundle instanceof GenericKubernetesResource generic) {
      return spec(generic).get(name);
    }
    throw new IllegalArgumentException("not a ClusterTrustBundle: " + bundle.getClass().getName());
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(GenericKubernetesResource bundle) {
    Object spec = bundle.getAdditionalProperties().get("spec");
    return spec instanceof Map<?, ?> map ? (Map<String, Object>) map : Map.of();
  }

  private static void requireVersion(String version) {
    if (!CertificatesApi.VERSIONS.contains(Objects.requireNonNull(version, "version"))) {
      throw new IllegalArgumentException("ClusterTrustBundles are served in " + CertificatesApi.VERSIONS
          + ", not in '" + version + "'");
    }
  }
}
