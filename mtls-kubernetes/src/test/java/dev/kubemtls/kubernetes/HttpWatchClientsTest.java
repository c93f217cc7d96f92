package dev.kubemtls.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import org.junit.jupiter.api.Test;

/**
 * {@link HttpWatchClients}: the view shares the client's HTTP client and configuration and only
 * watches over HTTP; one view per client; a client that already does is its own view. Real fabric8
 * clients (no API server is contacted: nothing here sends a request; the watches themselves are in
 * {@code KubeMtlsIT} and {@code SharedTrustIT}).
 */
class HttpWatchClientsTest {

  private static KubernetesClient client(boolean onlyHttpWatches) {
    return new KubernetesClientBuilder().withConfig(new ConfigBuilder().withAutoConfigure(false)
        .withMasterUrl("https://api.example.invalid:6443").withNamespace("shop").withOauthToken("t")
        .withRequestTimeout(12_345).withOnlyHttpWatches(onlyHttpWatches).build()).build();
  }

  @Test
  void theViewWatchesOverHttpThroughTheSameHttpClientAndConfiguration() {
    try (KubernetesClient client = client(false)) {
      KubernetesClient view = HttpWatchClients.of(client);
      assertThat(view).isNotSameAs(client);
      assertThat(view.getHttpClient()).isSameAs(client.getHttpClient());
      assertThat(view.getKubernetesSerialization()).isSameAs(client.getKubernetesSerialization());
      assertThat(view.getConfiguration().getOnlyHttpWatches()).isTrue();
      assertThat(client.getConfiguration().getOnlyHttpWatches()).as("the caller's client is unchanged").isFalse();
      assertThat(view.getMasterUrl()).isEqualTo(client.getMasterUrl());
      assertThat(view.getNamespace()).isEqualTo("shop");
      assertThat(view.getConfiguration().getRequestTimeout()).isEqualTo(12_345);
      assertThat(view.getConfiguration().getOauthToken()).isEqualTo("t");
      assertThat(HttpWatchClients.of(client)).as("one view per client").isSameAs(view);
    }
  }

  @Test
  void aClientThatWatchesOverHttpAlreadyIsItsOwnView() {
    try (KubernetesClient client = client(true)) {
      assertThat(HttpWatchClients.of(client)).isSameAs(client);
    }
  }
}
