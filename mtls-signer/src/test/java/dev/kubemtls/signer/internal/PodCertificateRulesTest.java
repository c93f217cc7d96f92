package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.testkit.MutableClock;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The decisions of {@link PodCertificateRules} on table-driven cluster views, the
 * {@code beginRefreshAt} rule, and the times {@link CertificateAuthority#signPodCertificate} writes.
 */
class PodCertificateRulesTest {

  private static final String NS = "shop";
  private static final String UID = "0b7c5d1e-1111-4222-8333-944455556666";

  private final PodCertificateRules rules = new PodCertificateRules("cluster.local", "cluster.local",
      ValidityPolicy.DEFAULT, 64);

  private static ClusterView view(Optional<ClusterView.PodInfo> pod, List<ClusterView.ServiceInfo> services) {
    return new ClusterView() {
      @Override
      public Optional<PodInfo> pod(String namespace, String name) {
        return namespace.equals(NS) && pod.isPresent() && pod.get().name().equals(name) ? pod : Optional.empty();
      }

      @Override
      public List<ServiceInfo> services(String namespace) {
        return namespace.equals(NS) ? services : List.of();
      }
    };
  }

  private static ClusterView.PodInfo pod(String uid, String sa, boolean terminating, List<String> ips) {
    return new ClusterView.PodInfo("web-0", uid, sa, Map.of("app", "web"), ips, terminating);
  }

  /** A stub request (the 1.36+ form) for a fresh key on {@code curve}, as base64 text. */
  private static String ecKey(String curve) {
    return StubRequests.base64(StubRequests.der(StubRequests.ec(curve)));
  }

  private static PodCertificateRules.Request request(String stub, Integer maxSeconds, Map<String, String> annotations) {
    return new PodCertificateRules.Request(NS, "web-0", UID, "web", stub, null, null, maxSeconds, annotations);
  }

  @Test
  void issuesTheSpiffeIdTheNamesOfSelectingServicesAndThePodIps() throws Exception {
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of("10.1.2.3"))), List.of(
        new ClusterView.ServiceInfo("web", Map.of("app", "web")),
        new ClusterView.ServiceInfo("db", Map.of("app", "db")),
        new ClusterView.ServiceInfo("headless", Map.of())));
    var decision = rules.decide(request(ecKey("secp256r1"), 86_400, Map.of()), cluster);
    assertThat(decision).isInstanceOf(PodCertificateRules.Issue.class);
    var issue = (PodCertificateRules.Issue) decision;
    assertThat(issue.uris()).containsExactly("spiffe://cluster.local/ns/shop/sa/web");
    // No bare "web": it names a different Service in every namespace.
    assertThat(issue.dnsNames()).containsExactly("web.shop", "web.shop.svc", "web.shop.svc.cluster.local");
    assertThat(issue.ips()).containsExactly("10.1.2.3");
    assertThat(issue.lifetime()).isEqualTo(Duration.ofHours(24));
  }

  @Test
  void issuesTheBareServiceNameOnlyWhenEnabled() {
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of())), List.of(
        new ClusterView.ServiceInfo("web", Map.of("app", "web"))));
    PodCertificateRules bare = new PodCertificateRules("cluster.local", "cluster.local", ValidityPolicy.DEFAULT, 64,
        true);
    assertThat(((PodCertificateRules.Issue) bare.decide(request(ecKey("secp256r1"), 3600, Map.of()), cluster))
        .dnsNames()).containsExactly("web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local");
  }

  @Test
  void issuesNoIpToAHostNetworkPod() {
    ClusterView.PodInfo onHost = new ClusterView.PodInfo("web-0", UID, "web", Map.of("app", "web"),
        List.of("192.168.1.20"), false, true);
    ClusterView cluster = view(Optional.of(onHost), List.of(new ClusterView.ServiceInfo("web", Map.of("app", "web"))));
    var issue = (PodCertificateRules.Issue) rules.decide(request(ecKey("secp256r1"), 3600, Map.of()), cluster);
    assertThat(issue.ips()).as("the node's IP, shared by every host-network Pod there").isEmpty();
    assertThat(issue.names()).containsExactly("spiffe://cluster.local/ns/shop/sa/web", "web.shop", "web.shop.svc",
        "web.shop.svc.cluster.local");
  }

  @Test
  void takesNothingButTheKeyFromTheStubRequest() throws Exception {
    // A stub asking for a CN, a foreign SPIFFE ID, a DNS name and an IP: none of it is issued.
    java.security.KeyPair keys = StubRequests.ec("secp256r1");
    org.bouncycastle.asn1.x509.GeneralNames sans = new org.bouncycastle.asn1.x509.GeneralNames(
        new org.bouncycastle.asn1.x509.GeneralName[] {
            new org.bouncycastle.asn1.x509.GeneralName(6, "spiffe://cluster.local/ns/kube-system/sa/admin"),
            new org.bouncycastle.asn1.x509.GeneralName(2, "kubernetes.default.svc"),
            new org.bouncycastle.asn1.x509.GeneralName(7, "10.0.0.1")});
    org.bouncycastle.asn1.x509.ExtensionsGenerator extensions = new org.bouncycastle.asn1.x509.ExtensionsGenerator();
    extensions.addExtension(org.bouncycastle.asn1.x509.Extension.subjectAlternativeName, false, sans);
    extensions.addExtension(org.bouncycastle.asn1.x509.Extension.basicConstraints, true,
        new org.bouncycastle.asn1.x509.BasicConstraints(true));
    byte[] der = new org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder(
        new org.bouncycastle.asn1.x500.X500Name("CN=system:admin"), keys.getPublic())
        .addAttribute(org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers.pkcs_9_at_extensionRequest,
            extensions.generate())
        .build(new org.bouncycastle.operator.jcajce.JcaContentSignerBuilder("SHA256withECDSA")
            .build(keys.getPrivate())).getEncoded();
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of("10.1.2.3"))), List.of());
    var issue = (PodCertificateRules.Issue) rules.decide(request(StubRequests.base64(der), 3600, Map.of()), cluster);
    assertThat(issue.key()).isEqualTo(keys.getPublic());
    assertThat(issue.names()).containsExactly("spiffe://cluster.local/ns/shop/sa/web", "10.1.2.3");
  }

  @Test
  void issuesForThe135FormAndDeniesARequestWithoutAKeySayingWhatIsMissing() {
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of())), List.of());
    var pkix = new PodCertificateRules.Request(NS, "web-0", UID, "web", null,
        StubRequests.base64(StubRequests.seed("pkix-ecdsap256.der")),
        StubRequests.base64(StubRequests.seed("pkix-ecdsap256.proof")), 3600, Map.of());
    assertThat(rules.decide(pkix, cluster)).isInstanceOf(PodCertificateRules.Issue.class);
    var none = new PodCertificateRules.Request(NS, "web-0", UID, "web", null, null, null, 3600, Map.of());
    assertThat(rules.decide(none, cluster)).isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
      assertThat(d.reason()).isEqualTo("MalformedRequest");
      assertThat(d.message()).contains("neither spec.stubPKCS10Request").doesNotContain("set the podCertificate");
    });
  }

  @Test
  void theLifetimeIsMaxExpirationSecondsCappedByMaxTtl() throws Exception {
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of())), List.of());
    PodCertificateRules twoHours = new PodCertificateRules("cluster.local", "cluster.local",
        new ValidityPolicy(Duration.ofMinutes(10), Duration.ofHours(2), Duration.ofMinutes(5)), 64);
    assertThat(((PodCertificateRules.Issue) twoHours.decide(request(ecKey("secp384r1"), 3600, Map.of()), cluster))
        .lifetime()).isEqualTo(Duration.ofHours(1));
    assertThat(((PodCertificateRules.Issue) twoHours.decide(request(ecKey("secp384r1"), 86_400, Map.of()), cluster))
        .lifetime()).isEqualTo(Duration.ofHours(2));
    // No DNS names without a selecting Service, no IP without one: the SPIFFE ID alone.
    assertThat(((PodCertificateRules.Issue) twoHours.decide(request(ecKey("secp384r1"), 3600, Map.of()), cluster))
        .names()).containsExactly("spiffe://cluster.local/ns/shop/sa/web");
  }

  @Test
  void failsWhenMaxTtlIsBelowTheApiServersHour() throws Exception {
    PodCertificateRules minute = new PodCertificateRules("cluster.local", "cluster.local",
        new ValidityPolicy(Duration.ofSeconds(30), Duration.ofMinutes(1), Duration.ZERO), 64);
    var decision = minute.decide(request(ecKey("secp256r1"), 3600, Map.of()),
        view(Optional.of(pod(UID, "web", false, List.of())), List.of()));
    assertThat(decision).isInstanceOfSatisfying(PodCertificateRules.Fail.class, f -> {
      assertThat(f.reason()).isEqualTo(PodCertificateRules.LIFETIME_TOO_SHORT);
      assertThat(f.message()).contains("--max-ttl");
    });
  }

  @Test
  void deniesAPodThatIsGoneReplacedRunsAsAnotherServiceAccountOrIsTerminating() throws Exception {
    String key = ecKey("secp256r1");
    Map<Optional<ClusterView.PodInfo>, String> cases = Map.of(
        Optional.empty(), "no longer exists",
        Optional.of(pod("another-uid", "web", false, List.of())), "was replaced",
        Optional.of(pod(UID, "admin", false, List.of())), "runs as ServiceAccount admin",
        Optional.of(pod(UID, "web", true, List.of())), "terminating");
    cases.forEach((pod, message) -> assertThat(rules.decide(request(key, 3600, Map.of()), view(pod, List.of())))
        .isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
          assertThat(d.reason()).isEqualTo(PodCertificateRules.POD_MISMATCH);
          assertThat(d.message()).contains(message);
        }));
  }

  @ParameterizedTest
  @ValueSource(strings = {"secp521r1", "Ed25519", "RSA2048-short"})
  void deniesKeysTheCsrRulesRefuse(String kind) throws Exception {
    KeyPair keys = kind.equals("Ed25519") ? StubRequests.ed25519()
        : kind.startsWith("RSA") ? StubRequests.rsa(1024) : StubRequests.ec(kind);
    String key = StubRequests.base64(StubRequests.der(keys));
    assertThat(rules.decide(request(key, 3600, Map.of()), view(Optional.of(pod(UID, "web", false, List.of())),
        List.of()))).isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
          assertThat(d.reason()).isEqualTo(PodCertificateRules.UNSUPPORTED_KEY_TYPE);
          assertThat(d.message()).contains("keyType").contains("ECDSAP256");
        });
  }

  @Test
  void deniesGarbageKeysAndAnyUserAnnotationBeforeLookingAtThePod() throws Exception {
    ClusterView unreachable = new ClusterView() {
      @Override
      public Optional<PodInfo> pod(String namespace, String name) {
        throw new AssertionError("looked up the Pod");
      }

      @Override
      public List<ServiceInfo> services(String namespace) {
        throw new AssertionError("looked up the Services");
      }
    };
    assertThat(rules.decide(request(StubRequests.base64(new byte[] {1, 2, 3}), 3600, Map.of()), unreachable))
        .isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
          assertThat(d.reason()).isEqualTo("MalformedRequest");
          assertThat(d.message()).contains("spec.stubPKCS10Request").doesNotContain("keyType");
        });
    assertThat(rules.decide(request(ecKey("secp256r1"), 3600, Map.of("example.com/a", "b")), unreachable))
        .isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
          assertThat(d.reason()).isEqualTo(PodCertificateRules.INVALID_USER_ANNOTATIONS);
          assertThat(d.message()).contains("example.com/a");
        });
  }

  @Test
  void deniesMoreNamesThanMaxNames() throws Exception {
    // The SPIFFE ID and three DNS names: one more than three.
    PodCertificateRules four = new PodCertificateRules("cluster.local", "cluster.local", ValidityPolicy.DEFAULT, 3);
    ClusterView cluster = view(Optional.of(pod(UID, "web", false, List.of())),
        List.of(new ClusterView.ServiceInfo("web", Map.of("app", "web"))));
    assertThat(four.decide(request(ecKey("secp256r1"), 3600, Map.of()), cluster))
        .isInstanceOfSatisfying(PodCertificateRules.Deny.class,
            d -> assertThat(d.reason()).isEqualTo(PodCertificateRules.TOO_MANY_NAMES));
  }

  @Test
  void beginRefreshAtIsTheJitteredSeventyToNinetyPercentPointInsideTheApiServersWindow() {
    Instant nb = Instant.parse("2026-01-01T00:00:00Z");
    Instant day = nb.plus(Duration.ofHours(24));
    assertThat(PodCertificateController.beginRefreshAt(nb, day, 0.0)).isEqualTo(nb.plus(Duration.ofMinutes(1008)));
    assertThat(PodCertificateController.beginRefreshAt(nb, day, 0.5)).isEqualTo(nb.plus(Duration.ofMinutes(1152)));
    assertThat(PodCertificateController.beginRefreshAt(nb, day, 0.999_999))
        .isBetween(nb.plus(Duration.ofMinutes(1295)), nb.plus(Duration.ofMinutes(1296)));
    // One hour: 42 to 54 minutes, but at most notAfter - 10 minutes.
    Instant hour = nb.plus(Duration.ofHours(1));
    assertThat(PodCertificateController.beginRefreshAt(nb, hour, 0.0)).isEqualTo(nb.plus(Duration.ofMinutes(42)));
    assertThat(PodCertificateController.beginRefreshAt(nb, hour, 0.9)).isEqualTo(nb.plus(Duration.ofMinutes(50)));
    // Whole seconds, as the status fields carry them.
    assertThat(PodCertificateController.beginRefreshAt(nb, nb.plusSeconds(3601), 0.37).getNano()).isZero();
  }

  @Test
  void theCaWritesWholeSecondsBackdatesAtMostAMinuteAndStaysInsideItsOwnValidity() throws Exception {
    MutableClock clock = new MutableClock(Instant.parse("2026-03-01T10:00:00.750Z"));
    CertificateAuthority ca = CertificateAuthority.generate("pod CA", Duration.ofDays(2), ValidityPolicy.DEFAULT,
        clock, new SecureRandom());
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair pair = g.generateKeyPair();
    X509Certificate leaf = ca.signPodCertificate(pair.getPublic(), List.of("spiffe://cluster.local/ns/a/sa/b"),
        List.of(), List.of(), Duration.ofHours(1));
    assertThat(leaf.getNotBefore().toInstant()).isEqualTo(Instant.parse("2026-03-01T09:59:00Z"));
    assertThat(leaf.getNotAfter().toInstant()).isEqualTo(Instant.parse("2026-03-01T10:59:00Z"));
    assertThat(leaf.getPublicKey()).isEqualTo(pair.getPublic());
    leaf.verify(ca.certificate().getPublicKey());
    // Near the CA's end the leaf is cut short; below an hour it is refused.
    clock.set(Instant.parse("2026-03-03T09:30:00Z"));
    try {
      ca.signPodCertificate(pair.getPublic(), List.of("spiffe://cluster.local/ns/a/sa/b"), List.of(), List.of(),
          Duration.ofHours(1));
      throw new AssertionError("signed past the CA's validity");
    } catch (SigningException e) {
      assertThat(e.reason()).isEqualTo("CaExpiresTooSoon");
    }
  }

  /** Found by fuzzing: an empty ServiceAccount name made the SPIFFE ID throw (the API server admits none). */
  @Test
  void deniesAServiceAccountNameThatMakesNoSpiffeIdInsteadOfThrowing() {
    ClusterView.PodInfo pod = new ClusterView.PodInfo("web-0", UID, "", Map.of(), List.of(), false);
    var request = new PodCertificateRules.Request(NS, "web-0", UID, "", ecKey("secp256r1"), null, null, 3600,
        Map.of());
    assertThat(rules.decide(request, view(Optional.of(pod), List.of())))
        .isInstanceOfSatisfying(PodCertificateRules.Deny.class, d -> {
          assertThat(d.reason()).isEqualTo("MalformedRequest");
          assertThat(d.message()).contains("serviceAccountName").contains("SPIFFE");
        });
  }
}
