package dev.kubemtls.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.internal.PeerCertificateException.Rejection;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@link VerifiedChains} behind {@link MtlsTrustManager}, with real certificates and the JDK's real
 * PKIX check (no TLS here; the handshakes are in mtls-netty's {@code VerifiedChainCacheTest}).
 */
class VerifiedChainsTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  private static final TestCa IMPOSTOR = TestCa.create("kube-mtls test CA");
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "t@1");

  private static X509Certificate[] leaf(TestCa ca, String sa) {
    return new X509Certificate[] {ca.leaf(TestCa.newKeyPair().getPublic()).spiffe("shop", sa).build()};
  }

  private static MtlsTrustManager manager(TrustBundle trust, VerifiedChains chains, PeerPolicy policy) {
    return new MtlsTrustManager(trust, "server", policy,
        new RateLimitedLog(LoggerFactory.getLogger(VerifiedChainsTest.class), System::nanoTime), chains);
  }

  @Test
  void eachScopeKeepsAtMostItsBoundAndAnEvictedChainIsCheckedInFullAgain() throws Exception {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 4);
    MtlsTrustManager tm = manager(TRUST, chains, null);
    List<X509Certificate[]> peers = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      X509Certificate[] chain = leaf(CA, "sa-" + i);
      peers.add(chain);
      tm.checkClientTrusted(chain, "UNKNOWN");
      assertThat(chains.scope(TRUST).size()).isLessThanOrEqualTo(4);
    }
    assertThat(chains.scope(TRUST).size()).isEqualTo(4);
    assertThat(chains.misses()).isEqualTo(10);
    // The most recent four are hits, the first was evicted and is verified in full (and passes).
    tm.checkClientTrusted(peers.get(9), "UNKNOWN");
    assertThat(chains.hits()).isEqualTo(1);
    tm.checkClientTrusted(peers.get(0), "UNKNOWN");
    assertThat(chains.misses()).isEqualTo(11);
    assertThat(chains.scope(TRUST).size()).isEqualTo(4);
  }

  @Test
  void leafIdentitiesAreReadOnceAndBounded() {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 3);
    X509Certificate[] first = leaf(CA, "web");
    PeerIdentity once = chains.identity(first[0]);
    assertThat(chains.identity(first[0])).isSameAs(once);
    assertThat(once.serviceAccount()).contains("web");
    for (int i = 0; i < 10; i++) {
      assertThat(chains.identity(leaf(CA, "sa-" + i)[0]).serviceAccount()).contains("sa-" + i);
    }
    assertThat(chains.identityCount()).isEqualTo(3);
  }

  @Test
  void aRefusedChainIsNeverRememberedAndStaysRefusedWithItsReason() throws Exception {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 16);
    MtlsTrustManager tm = manager(TRUST, chains, null);
    tm.checkClientTrusted(leaf(CA, "web"), "UNKNOWN");
    X509Certificate[] forged = leaf(IMPOSTOR, "web");
    for (int i = 0; i < 2; i++) {
      assertThatThrownBy(() -> tm.checkClientTrusted(forged, "UNKNOWN"))
          .isInstanceOfSatisfying(PeerCertificateException.class,
              e -> assertThat(e.rejection()).isEqualTo(Rejection.BAD_CERTIFICATE));
    }
    assertThat(chains.scope(TRUST).size()).isEqualTo(1);
    assertThat(chains.hits()).isZero();
  }

  @Test
  void theClockDecidesOnEveryCheckHitOrNot() throws Exception {
    MutableClock clock = MutableClock.startingNow();
    VerifiedChains chains = new VerifiedChains(clock, 16);
    MtlsTrustManager tm = manager(TRUST, chains, null);
    X509Certificate[] chain = leaf(CA, "web");   // valid from a minute ago for an hour
    tm.checkClientTrusted(chain, "UNKNOWN");
    tm.checkClientTrusted(chain, "UNKNOWN");
    assertThat(chains.hits()).isEqualTo(1);
    clock.advance(Duration.ofMinutes(61));
    for (int i = 0; i < 2; i++) {
      assertThatThrownBy(() -> tm.checkClientTrusted(chain, "UNKNOWN"))
          .isInstanceOfSatisfying(PeerCertificateException.class,
              e -> assertThat(e.rejection()).isEqualTo(Rejection.EXPIRED));
    }
    assertThat(chains.scope(TRUST).size()).as("the expired entry was dropped").isZero();
    // Not yet valid by the clock: refused on a full check too, although PKIX (real time) passes.
    MutableClock early = MutableClock.startingNow();
    MtlsTrustManager tm2 = manager(TRUST, new VerifiedChains(early, 16), null);
    X509Certificate[] later = new X509Certificate[] {CA.leaf(TestCa.newKeyPair().getPublic())
        .spiffe("shop", "web").validity(early.instant().minus(Duration.ofMinutes(1)), Duration.ofHours(1))
        .build()};
    tm2.checkClientTrusted(later, "UNKNOWN");
    MutableClock before = new MutableClock(early.instant().minus(Duration.ofMinutes(5)));
    MtlsTrustManager tm3 = manager(TRUST, new VerifiedChains(before, 16), null);
    assertThatThrownBy(() -> tm3.checkClientTrusted(later, "UNKNOWN"))
        .isInstanceOfSatisfying(PeerCertificateException.class,
            e -> assertThat(e.rejection()).isEqualTo(Rejection.NOT_YET_VALID));
  }

  @Test
  void bundlesWithOtherCasGetTheirOwnEmptyScope() throws Exception {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 16);
    TestCa next = TestCa.create("kube-mtls next CA");
    TrustBundle both = new TrustBundle(List.of(CA.certificate(), next.certificate()), "t@1");
    X509Certificate[] fromNext = leaf(next, "web");
    manager(both, chains, null).checkClientTrusted(fromNext, "UNKNOWN");
    assertThat(chains.scope(new TrustBundle(List.of(CA.certificate(), next.certificate()), "t@2")))
        .as("same CAs, other version: the same scope").isSameAs(chains.scope(both));
    MtlsTrustManager after = manager(TRUST, chains, null);
    assertThat(chains.scope(TRUST).size()).isZero();
    assertThatThrownBy(() -> after.checkClientTrusted(fromNext, "UNKNOWN"))
        .isInstanceOfSatisfying(PeerCertificateException.class,
            e -> assertThat(e.rejection()).isEqualTo(Rejection.UNKNOWN_CA));
  }

  @Test
  void theNameAClientDialledIsPartOfTheKey() throws Exception {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 16);
    VerifiedChains.Scope scope = chains.scope(TRUST);
    X509Certificate[] chain = leaf(CA, "orders");
    scope.remember(scope.key(chain, "UNKNOWN", "orders.shop.svc"), chain);
    assertThat(scope.verified(scope.key(chain, "UNKNOWN", "orders.shop.svc"))).isTrue();
    assertThat(scope.verified(scope.key(chain, "UNKNOWN", "billing.shop.svc"))).isFalse();
    assertThat(scope.verified(scope.key(chain, "ECDHE_ECDSA", "orders.shop.svc"))).isFalse();
    assertThat(scope.verified(scope.key(leaf(CA, "orders"), "UNKNOWN", "orders.shop.svc"))).isFalse();
  }

  @Test
  void thePolicyStillAppliesOnAHit() throws Exception {
    VerifiedChains chains = new VerifiedChains(MutableClock.startingNow(), 16);
    X509Certificate[] web = leaf(CA, "web");
    manager(TRUST, chains, null).checkClientTrusted(web, "UNKNOWN");
    MtlsTrustManager strict = manager(TRUST, chains,
        PeerPolicy.builder().allowServiceAccount("shop", "orders").build());
    assertThatThrownBy(() -> strict.checkClientTrusted(web, "UNKNOWN"))
        .isInstanceOfSatisfying(PeerCertificateException.class,
            e -> assertThat(e.rejection()).isEqualTo(Rejection.NOT_ALLOWED));
    assertThat(chains.hits()).isEqualTo(1);
    assertThatCode(() -> manager(TRUST, null, null).checkClientTrusted(web, "UNKNOWN"))
        .as("without a cache: the full check, as before").doesNotThrowAnyException();
  }
}
