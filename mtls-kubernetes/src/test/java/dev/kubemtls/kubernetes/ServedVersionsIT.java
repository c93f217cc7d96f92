package dev.kubemtls.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.RecordingClient;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Discovery answers remembered per client ({@link ServedVersions}), against a real kube-apiserver:
 * counted in the requests each client sends, on an injected monotonic clock.
 */
class ServedVersionsIT {

  private final ControlPlane cp = ControlPlane.shared();
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
  private final ServedVersions versions = new ServedVersions(nanos::get);
  private final Queue<String> requests = new ConcurrentLinkedQueue<>();
  private final KubernetesClient one = counted(cp.adminClient().getConfiguration(), "one");
  private final KubernetesClient two = counted(cp.adminClient().getConfiguration(), "two");

  @AfterEach
  void close() {
    one.close();
    two.close();
  }

  private KubernetesClient counted(Config config, String name) {
    return RecordingClient.of(config, r -> requests.add(name + " " + r.method() + " " + r.path()));
  }

  private long discoveries(String client) {
    return requests.stream().filter(r -> r.startsWith(client + " GET /apis/certificates.k8s.io/")).count();
  }

  @Test
  void oneClientAsksOnceUntilTheAnswerIsFiveMinutesOld() {
    Optional<String> first = versions.servedVersion(one, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE);
    assertThat(first).as("what the API server itself says")
        .isEqualTo(CertificatesApi.servedVersion(two, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)).isPresent();
    requests.removeIf(r -> r.startsWith("two "));
    long asked = discoveries("one");
    assertThat(asked).isPositive();

    nanos.addAndGet(ServedVersions.TTL_NANOS - 1);
    assertThat(versions.servedVersion(one, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)).isEqualTo(first);
    assertThat(discoveries("one")).as("remembered, in %s", requests).isEqualTo(asked);

    // Another client asks for itself.
    assertThat(versions.servedVersion(two, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)).isEqualTo(first);
    assertThat(discoveries("two")).isEqualTo(asked);

    // Another kind is another question.
    versions.servedVersion(one, CertificatesApi.Kind.POD_CERTIFICATE_REQUEST);
    assertThat(discoveries("one")).isGreaterThan(asked);
    long withOtherKind = discoveries("one");

    nanos.addAndGet(1);
    assertThat(versions.servedVersion(one, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE)).isEqualTo(first);
    assertThat(discoveries("one")).as("asked again once the answer is five minutes old").isEqualTo(
        withOtherKind + asked);
  }

  @Test
  void aFailedDiscoveryIsNotRemembered() {
    Config badToken = new ConfigBuilder(cp.adminClient().getConfiguration()).withClientCertData(null)
        .withClientKeyData(null).withClientCertFile(null).withClientKeyFile(null).withOauthToken("not-a-token")
        .withRequestRetryBackoffLimit(0)
        .build();
    try (KubernetesClient refused = counted(badToken, "refused")) {
      assertThatThrownBy(() -> versions.servedVersion(refused, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE))
          .isInstanceOf(KubernetesClientException.class);
      long asked = discoveries("refused");
      assertThat(asked).isPositive();
      assertThatThrownBy(() -> versions.servedVersion(refused, CertificatesApi.Kind.CLUSTER_TRUST_BUNDLE))
          .isInstanceOf(KubernetesClientException.class);
      assertThat(discoveries("refused")).as("asked again").isEqualTo(2 * asked);
    }
  }
}
