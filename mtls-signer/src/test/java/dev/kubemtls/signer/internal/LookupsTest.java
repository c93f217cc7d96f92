package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A cache that is behind never denies on its own: the cluster-dependent denials are decided again live. */
class LookupsTest {

  private static final ApprovalPolicy STRICT = ApprovalPolicy.strict("cluster.local", "cluster.local");
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");
  private static final String SPIFFE = "spiffe://cluster.local/ns/shop/sa/web";
  private static final Requester BOUND = new Requester("system:serviceaccount:shop:web", "uid",
      List.of("system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"),
      Map.of(Requester.POD_NAME_EXTRA, List.of("web-0"), Requester.POD_UID_EXTRA, List.of("uid-2")));

  /** A table of one Pod and its namespace's Services that counts its lookups. */
  static final class Table implements ClusterView {
    final AtomicInteger lookups = new AtomicInteger();
    final PodInfo pod;
    final List<ServiceInfo> services;

    Table(PodInfo pod, List<ServiceInfo> services) {
      this.pod = pod;
      this.services = services;
    }

    @Override
    public Optional<PodInfo> pod(String namespace, String name) {
      lookups.incrementAndGet();
      return pod != null && namespace.equals("shop") && name.equals(pod.name()) ? Optional.of(pod) : Optional.empty();
    }

    @Override
    public List<ServiceInfo> services(String namespace) {
      lookups.incrementAndGet();
      return namespace.equals("shop") ? services : List.of();
    }
  }

  private static ClusterView.PodInfo pod(String uid, String ip, Map<String, String> labels) {
    return new ClusterView.PodInfo("web-0", uid, "web", labels, List.of(ip), false);
  }

  private static final List<ClusterView.ServiceInfo> WEB = List.of(new ClusterView.ServiceInfo("web", Map.of("app", "web")));

  private static ApprovalDecision decide(TestCsr csr, ClusterView cached, ClusterView live) {
    return Lookups.decide(STRICT, CertificateRequest.parse(csr.pem()), USAGES, BOUND, cached, live);
  }

  @Test
  void aPodIpChangedJustBeforeTheRequestIsSeenLive() {
    Table stale = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    Table live = new Table(pod("uid-2", "10.0.0.2", Map.of("app", "web")), WEB);
    ApprovalDecision d = decide(TestCsr.builder().uri(SPIFFE).ip("10.0.0.2"), stale, live);
    assertThat(d.approved()).as(d.message()).isTrue();
    assertThat(live.lookups).hasPositiveValue();
  }

  @Test
  void aServiceSelectorChangedJustBeforeTheRequestIsSeenLive() {
    Table stale = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")),
        List.of(new ClusterView.ServiceInfo("web", Map.of("app", "old"))));
    Table live = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    ApprovalDecision d = decide(TestCsr.builder().uri(SPIFFE).dns("web.shop.svc"), stale, live);
    assertThat(d.approved()).as(d.message()).isTrue();
  }

  @Test
  void aPodMissingFromTheCacheOrRecreatedIsReadLive() {
    Table missing = new Table(null, WEB);
    Table recreatedStale = new Table(pod("uid-1", "10.0.0.1", Map.of("app", "web")), WEB);
    Table live = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    assertThat(decide(TestCsr.builder().uri(SPIFFE).dns("web.shop.svc"), missing, live).approved()).isTrue();
    assertThat(decide(TestCsr.builder().uri(SPIFFE).dns("web.shop.svc"), recreatedStale, live).approved()).isTrue();
  }

  @Test
  void aDenialThatTheLiveStateConfirmsIsWrittenWithTheLiveReason() {
    Table cached = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    Table live = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    ApprovalDecision d = decide(TestCsr.builder().uri(SPIFFE).ip("10.9.9.9"), cached, live);
    assertThat(d.approved()).isFalse();
    assertThat(d.reason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_IP_ADDRESS);
    assertThat(live.lookups).hasPositiveValue();
  }

  @Test
  void anApprovalOrARequestDenialNeedsNoLiveRead() {
    Table cached = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    Table live = new Table(pod("uid-2", "10.0.0.1", Map.of("app", "web")), WEB);
    assertThat(decide(TestCsr.builder().uri(SPIFFE).dns("web.shop.svc").ip("10.0.0.1"), cached, live).approved())
        .isTrue();
    assertThat(decide(TestCsr.builder().uri(SPIFFE).dns("*.shop.svc"), cached, live).reason())
        .isEqualTo(ApprovalDecision.WILDCARD_NOT_ALLOWED);
    assertThat(live.lookups).hasValue(0);
  }
}
