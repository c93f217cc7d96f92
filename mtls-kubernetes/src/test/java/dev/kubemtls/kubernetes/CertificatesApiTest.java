package dev.kubemtls.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The error of a cluster that serves a kind in no version: it names the cluster's release, what
 * needs the API and exactly what to enable. (Which version a real cluster serves is checked by the
 * ITs on every release of the window, e.g. {@code ClusterTrustBundlePublisherIT}.)
 */
class CertificatesApiTest {

  @Test
  void theErrorNamesTheReleaseAndWhatToEnable() {
    String podCertificates = CertificatesApi.notServed("v1.34.2", CertificatesApi.Kind.POD_CERTIFICATE_REQUEST,
        "--pod-certificates=true");
    assertThat(podCertificates).contains("Kubernetes v1.34.2").contains("PodCertificateRequests")
        .contains("--pod-certificates=true").contains("--feature-gates=PodCertificateRequest=true")
        .contains("--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true")
        .contains("and the kubelet with the same feature gate").contains("1.37");
    String bundles = CertificatesApi.notServed("v1.36.3", CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE,
        "trusting ClusterTrustBundles");
    assertThat(bundles).contains("Kubernetes v1.36.3").contains("--feature-gates=ClusterTrustBundle=true")
        .contains("--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true")
        .doesNotContain("kubelet");
  }

  @Test
  void versionsArePreferredStableFirst() {
    assertThat(CertificatesApi.VERSIONS).containsExactly("v1", "v1beta1");
    assertThat(CertificatesApi.apiVersion("v1")).isEqualTo("certificates.k8s.io/v1");
  }
}
