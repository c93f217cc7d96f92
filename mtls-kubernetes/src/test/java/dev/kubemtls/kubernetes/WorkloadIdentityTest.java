package dev.kubemtls.kubernetes;

import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Role;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkloadIdentityTest {

  @TempDir
  Path saDir;

  @Test
  void derivesServiceNamesPodIpAndSpiffeId() throws Exception {
    WorkloadIdentity id = WorkloadIdentity.builder("shop", "orders").services("orders", "orders-admin")
        .extraDnsNames("orders.example.com").podIp("10.1.2.3").podName("orders-0").build();
    assertThat(id.dnsNames()).containsExactly(
        "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local",
        "orders-admin.shop", "orders-admin.shop.svc", "orders-admin.shop.svc.cluster.local",
        "orders.example.com");
    assertThat(id.ipAddresses()).containsExactly(InetAddress.getByName("10.1.2.3"));
    assertThat(id.spiffeId()).hasToString("spiffe://cluster.local/ns/shop/sa/orders");
    assertThat(id.username()).isEqualTo("system:serviceaccount:shop:orders");
    assertThat(id.role()).isEqualTo(Role.BOTH);
  }

  @Test
  void trustDomainDefaultsToTheClusterDomain() {
    WorkloadIdentity id = WorkloadIdentity.builder("ns", "sa").clusterDomain("corp.internal").services("web").build();
    assertThat(id.trustDomain()).isEqualTo("corp.internal");
    assertThat(id.dnsNames()).contains("web.ns.svc.corp.internal");
    assertThat(id.spiffeId()).hasToString("spiffe://corp.internal/ns/ns/sa/sa");
    assertThat(WorkloadIdentity.builder("ns", "sa").trustDomain("example.org").build().spiffeId())
        .hasToString("spiffe://example.org/ns/ns/sa/sa");
  }

  @Test
  void usagesFollowRoleAndKeyAlgorithm() {
    WorkloadIdentity.Builder b = WorkloadIdentity.builder("ns", "sa");
    assertThat(b.role(Role.SERVER).build().usages(KeyAlgorithm.EC_P256))
        .containsExactly("digital signature", "server auth");
    assertThat(b.role(Role.CLIENT).build().usages(KeyAlgorithm.EC_P384))
        .containsExactly("digital signature", "client auth");
    assertThat(b.role(Role.BOTH).build().usages(KeyAlgorithm.EC_P256))
        .containsExactly("digital signature", "server auth", "client auth");
    assertThat(b.role(Role.SERVER).build().usages(KeyAlgorithm.RSA_2048))
        .containsExactly("digital signature", "key encipherment", "server auth");
  }

  @Test
  void rejectsInvalidFieldsByName() {
    assertThatThrownBy(() -> WorkloadIdentity.builder("Shop", "sa").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("namespace 'Shop'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa_1").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("serviceAccount 'sa_1'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").services("web", "a.b").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("services[1] 'a.b'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").extraDnsNames("ok.example", "bad..name").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("extraDnsNames[1] 'bad..name'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").podIp("10.0.0.256").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("podIp '10.0.0.256'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").podIp("localhost").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("podIp 'localhost'");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").trustDomain("Bad Domain").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("trust domain");
    assertThatThrownBy(() -> WorkloadIdentity.builder("ns", "sa").clusterDomain("-x").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clusterDomain '-x'");
  }

  @Test
  void acceptsWildcardsAndIpv6() throws Exception {
    WorkloadIdentity id = WorkloadIdentity.builder("ns", "sa").extraDnsNames("*.web.example.com")
        .podIp("fd00::1").build();
    assertThat(id.dnsNames()).containsExactly("*.web.example.com");
    assertThat(id.ipAddresses()).containsExactly(InetAddress.getByName("fd00::1"));
  }

  @Test
  void readsNamespaceAndServiceAccountFromTheMountedFiles() throws IOException {
    Files.writeString(saDir.resolve("namespace"), "shop");
    Files.writeString(saDir.resolve("token"), jwt("{\"iss\":\"k\",\"sub\":\"system:serviceaccount:shop:orders\"}"));
    Map<String, String> env = Map.of("POD_NAME", "orders-7d9", "POD_IP", "10.4.0.7", "POD_NAMESPACE", "ignored");
    WorkloadIdentity id = WorkloadIdentity.builderFromEnvironment(env::get, saDir).services("orders").build();
    assertThat(id.namespace()).isEqualTo("shop");
    assertThat(id.serviceAccount()).isEqualTo("orders");
    assertThat(id.podName()).contains("orders-7d9");
    assertThat(id.podIp()).contains("10.4.0.7");
    assertThat(id.dnsNames()).contains("orders.shop.svc.cluster.local");
  }

  @Test
  void fallsBackToEnvironmentVariables() {
    Map<String, String> env = Map.of("POD_NAMESPACE", "shop", "SERVICE_ACCOUNT", "carts", "CLUSTER_DOMAIN", "k8s.local");
    WorkloadIdentity id = WorkloadIdentity.builderFromEnvironment(env::get, saDir.resolve("absent")).build();
    assertThat(id.spiffeId()).hasToString("spiffe://k8s.local/ns/shop/sa/carts");
    assertThat(id.podIp()).isEmpty();
  }

  @Test
  void explainsWhatIsMissingOutsideAPod() {
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(k -> null, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("POD_NAMESPACE is not set");
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(Map.of("POD_NAMESPACE", "ns")::get, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("SERVICE_ACCOUNT is not set");
  }

  @Test
  void rejectsTokensThatAreNotForAServiceAccountOfThisNamespace() throws IOException {
    Files.writeString(saDir.resolve("namespace"), "shop");
    Files.writeString(saDir.resolve("token"), jwt("{\"sub\":\"admin\"}"));
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(k -> null, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("is not a ServiceAccount");
    Files.writeString(saDir.resolve("token"), jwt("{\"sub\":\"system:serviceaccount:other:sa\"}"));
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(k -> null, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("for namespace 'other'");
    Files.writeString(saDir.resolve("token"), "not-a-jwt");
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(k -> null, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("not a JWT");
    Files.writeString(saDir.resolve("token"), "a.%%%.c");
    assertThatThrownBy(() -> WorkloadIdentity.builderFromEnvironment(k -> null, saDir))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("not base64url JSON")
        .hasMessageNotContaining("%%%");
  }

  private static String jwt(String payload) {
    Base64.Encoder enc = Base64.getUrlEncoder().withoutPadding();
    return enc.encodeToString("{\"alg\":\"RS256\"}".getBytes(StandardCharsets.UTF_8)) + "."
        + enc.encodeToString(payload.getBytes(StandardCharsets.UTF_8)) + ".c2lnbmF0dXJl\n";
  }
}
