package dev.kubemtls.core.names;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ServiceNamesTest {

  @Test
  void theThreeNamespaceQualifiedFormsShortestFirst() {
    assertThat(ServiceNames.of("orders", "shop", "cluster.local"))
        .containsExactly("orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local");
  }

  @Test
  void theBareNameOnlyOnRequestAndFirst() {
    assertThat(ServiceNames.of("orders", "shop", "example.org", true))
        .containsExactly("orders", "orders.shop", "orders.shop.svc", "orders.shop.svc.example.org");
    assertThat(ServiceNames.of("orders", "shop", "example.org", false)).doesNotContain("orders");
  }

  @Test
  void usagesAreTheApisSpelling() {
    assertThat(Usages.SUPPORTED).containsExactlyInAnyOrder("digital signature", "key encipherment",
        "server auth", "client auth");
    assertThat(Usages.unsupported(java.util.List.of("server auth", "code signing", "client auth", "any")))
        .containsExactly("code signing", "any");
  }

  @Test
  void nullsAreRefused() {
    assertThatThrownBy(() -> ServiceNames.of(null, "shop", "cluster.local")).isInstanceOf(NullPointerException.class);
  }
}
