package dev.kubemtls.core.peer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Trust domains in {@link PeerPolicy}: namespace and ServiceAccount entries are names inside one. */
class PeerPolicyTest {

  private static PeerIdentity peer(String spiffeId) {
    return new PeerIdentity(Optional.ofNullable(spiffeId), List.of(), List.of(), "CN=peer");
  }

  @Test
  void namespaceAndServiceAccountEntriesMatchOnlyTheDefaultTrustDomain() {
    PeerPolicy policy = PeerPolicy.builder().allowNamespace("shop").allowServiceAccount("ops", "auditor").build();
    assertThat(policy.trustDomain()).isEqualTo("cluster.local");
    assertThat(policy.denialReason(peer("spiffe://cluster.local/ns/shop/sa/web"))).isEmpty();
    assertThat(policy.denialReason(peer("spiffe://cluster.local/ns/ops/sa/auditor"))).isEmpty();
    assertThat(policy.denialReason(peer("spiffe://evil.example/ns/shop/sa/web")))
        .hasValueSatisfying(r -> assertThat(r).contains("trust domain evil.example"));
    assertThat(policy.denialReason(peer("spiffe://evil.example/ns/ops/sa/auditor"))).isPresent();
  }

  @Test
  void theBuildersTrustDomainScopesTheEntries() {
    PeerPolicy policy = PeerPolicy.builder().trustDomain("prod.example").allowNamespace("shop").build();
    assertThat(policy.denialReason(peer("spiffe://prod.example/ns/shop/sa/web"))).isEmpty();
    assertThat(policy.denialReason(peer("spiffe://cluster.local/ns/shop/sa/web"))).isPresent();
  }

  @Test
  void aTrustDomainEntryAllowsItsWorkloadsOnly() {
    PeerPolicy policy = PeerPolicy.anySpiffeIdIn("prod.example");
    assertThat(policy.hasAllowList()).isTrue();
    assertThat(policy.denialReason(peer("spiffe://prod.example/ns/any/sa/thing"))).isEmpty();
    assertThat(policy.denialReason(peer("spiffe://prod.example.evil/ns/any/sa/thing"))).isPresent();
    assertThat(policy.denialReason(peer("spiffe://cluster.local/ns/any/sa/thing"))).isPresent();
    assertThat(policy.denialReason(peer(null))).isPresent();
  }

  @Test
  void anExactSpiffeIdIsAllowedWhateverItsTrustDomain() {
    PeerPolicy policy = PeerPolicy.builder().allowNamespace("shop")
        .allowSpiffeId("spiffe://partner.example/ns/billing/sa/api").build();
    assertThat(policy.denialReason(peer("spiffe://partner.example/ns/billing/sa/api"))).isEmpty();
    assertThat(policy.denialReason(peer("spiffe://partner.example/ns/billing/sa/other"))).isPresent();
  }

  @Test
  void theDefaultsKeepTheirMeaning() {
    assertThat(PeerPolicy.anySpiffeId().denialReason(peer("spiffe://anything.example/ns/a/sa/b"))).isEmpty();
    assertThat(PeerPolicy.anySpiffeId().denialReason(peer(null))).isPresent();
    assertThat(PeerPolicy.allowAll().denialReason(peer(null))).isEmpty();
    assertThat(PeerPolicy.builder().trustDomain("x.example").build()).isSameAs(PeerPolicy.anySpiffeId());
  }

  @Test
  void malformedTrustDomainsAreRefused() {
    assertThatThrownBy(() -> PeerPolicy.builder().trustDomain("Cluster.Local"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> PeerPolicy.builder().allowTrustDomain("a/b"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
