package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/**
 * Coverage-guided fuzz tests of {@link PodCertificateRules#decide} over what a PodCertificateRequest
 * carries from outside: the stub PKCS#10 request (1.36+), the PKIX key with its proof of possession
 * (1.35), and the spec and cluster facts the names are decided on. The seeds of {@code stubRequest}
 * are stub requests made by Go's {@code x509.CreateCertificateRequest} as the kubelet makes them
 * (P-256, P-384, P-521, RSA 3072, Ed25519), a deeply nested structure and a 16384-bit RSA key.
 *
 * <p>The contract: {@code decide} never throws (the controller would retry a throwing request
 * forever) and takes no seconds for any input; a denial has one of the reasons the signer
 * declares; an issued key is the stub request's own key, of a type the signer issues for, and the
 * request's signature verifies by an independent check (BouncyCastle's content verifier), so nothing
 * is issued without proof of possession; and everything issued is owned by the Pod: its SPIFFE ID,
 * the qualified names of Services that select it, its own IPs unless it is on the host network.
 *
 * <ul>
 *   <li>{@code stubRequest}: the DER of {@code spec.stubPKCS10Request}.</li>
 *   <li>{@code pkixAndProof}: the first two bytes (big-endian) are the length of
 *       {@code spec.pkixPublicKey}, the rest is {@code spec.proofOfPossession}; the seeds are Go-made
 *       (P-256 and RSA 3072, the proof over the Pod UID as the kubelet of 1.35 signs it).</li>
 *   <li>{@code ownership}: a fixed good stub request; the Pod (labels, IPs, host network, UID,
 *       ServiceAccount), the Services and the request's fields come from the input.</li>
 * </ul>
 */
class PodCertificateRulesFuzzTest {

  private static final Duration TOO_SLOW = Duration.ofSeconds(2);
  private static final String NS = "shop";
  private static final String UID = StubRequests.POD_UID;
  private static final PodCertificateRules RULES = new PodCertificateRules("cluster.local", "cluster.local",
      ValidityPolicy.DEFAULT, 64);
  private static final ClusterView.PodInfo POD = new ClusterView.PodInfo("orders-0", UID, "orders",
      Map.of("app", "orders"), List.of("10.1.2.3"), false);
  private static final ClusterView CLUSTER = table(POD, List.of(new ClusterView.ServiceInfo("orders",
      Map.of("app", "orders"))));
  private static final java.security.Provider ORACLE = new org.bouncycastle.jce.provider.BouncyCastleProvider();
  private static final String GOOD_STUB = StubRequests.base64(StubRequests.seed("kubelet-ecdsap256.der"));

  static {
    // Class loading and the first use of the parsers and providers are not the decision's time.
    RULES.decide(new PodCertificateRules.Request(NS, "orders-0", UID, "orders", GOOD_STUB, null, null, 3600,
        Map.of()), CLUSTER);
    RULES.decide(new PodCertificateRules.Request(NS, "orders-0", UID, "orders",
        StubRequests.base64(StubRequests.seed("kubelet-rsa3072.der")), null, null, 3600, Map.of()), CLUSTER);
  }

  private static ClusterView table(ClusterView.PodInfo pod, List<ClusterView.ServiceInfo> services) {
    return new ClusterView() {
      @Override
      public Optional<PodInfo> pod(String namespace, String name) {
        return namespace.equals(NS) && name.equals(pod.name()) ? Optional.of(pod) : Optional.empty();
      }

      @Override
      public List<ServiceInfo> services(String namespace) {
        return namespace.equals(NS) ? services : List.of();
      }
    };
  }

  @FuzzTest
  void stubRequest(byte[] der) {
    PodCertificateRules.Decision decision = timed(new PodCertificateRules.Request(NS, "orders-0", UID, "orders",
        Base64.getEncoder().encodeToString(der), null, null, 3600, Map.of()), CLUSTER);
    if (decision instanceof PodCertificateRules.Issue issue) {
      PKCS10CertificationRequest request;
      try {
        request = new PKCS10CertificationRequest(der);
        assertThat(request.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider(ORACLE).build(
            request.getSubjectPublicKeyInfo()))).as("the stub request's signature").isTrue();
        PublicKey stubKey = KeyFactory.getInstance(issue.key().getAlgorithm())
            .generatePublic(new X509EncodedKeySpec(request.getSubjectPublicKeyInfo().getEncoded()));
        assertThat(issue.key()).isEqualTo(stubKey);
      } catch (Exception e) {
        throw new AssertionError("issued for a stub request that an independent reading refuses", e);
      }
      assertOwned(issue, POD, Set.of("orders"));
    }
  }

  @FuzzTest
  void pkixAndProof(byte[] input) {
    if (input.length < 2) {
      return;
    }
    int split = Math.min(input.length - 2, ((input[0] & 0xff) << 8) | (input[1] & 0xff));
    byte[] pkix = java.util.Arrays.copyOfRange(input, 2, 2 + split);
    byte[] proof = java.util.Arrays.copyOfRange(input, 2 + split, input.length);
    PodCertificateRules.Decision decision = timed(new PodCertificateRules.Request(NS, "orders-0", UID, "orders",
        null, Base64.getEncoder().encodeToString(pkix), Base64.getEncoder().encodeToString(proof), 3600, Map.of()),
        CLUSTER);
    if (decision instanceof PodCertificateRules.Issue issue) {
      assertThat(issue.key().getEncoded()).isEqualTo(pkix);
      assertOwned(issue, POD, Set.of("orders"));
    }
  }

  @FuzzTest
  void ownership(FuzzedDataProvider data) {
    Map<String, String> labels = new LinkedHashMap<>();
    for (int i = data.consumeInt(0, 3); i > 0; i--) {
      labels.put(data.consumeString(8), data.consumeString(8));
    }
    List<String> ips = List.of(data.consumeString(40), data.consumeString(40));
    boolean hostNetwork = data.consumeBoolean();
    ClusterView.PodInfo pod = new ClusterView.PodInfo("orders-0", data.consumeBoolean() ? UID : data.consumeString(40),
        data.consumeBoolean() ? "orders" : data.consumeString(20), labels, ips, data.consumeBoolean(), hostNetwork);
    List<ClusterView.ServiceInfo> services = new java.util.ArrayList<>();
    for (int i = data.consumeInt(0, 4); i > 0; i--) {
      Map<String, String> selector = new LinkedHashMap<>();
      for (int j = data.consumeInt(0, 2); j > 0; j--) {
        selector.put(data.consumeString(8), data.consumeString(8));
      }
      services.add(new ClusterView.ServiceInfo(data.consumeString(20), selector));
    }
    Map<String, String> annotations = data.consumeBoolean() ? Map.of(data.consumeString(20), "x") : Map.of();
    PodCertificateRules.Request request = new PodCertificateRules.Request(NS, "orders-0", UID,
        data.consumeBoolean() ? "orders" : data.consumeString(20), GOOD_STUB, null, null,
        data.consumeBoolean() ? null : data.consumeInt(), annotations);
    PodCertificateRules.Decision decision = timed(request, table(pod, services));
    if (decision instanceof PodCertificateRules.Issue issue) {
      assertThat(annotations).isEmpty();
      assertThat(pod.uid()).isEqualTo(UID);
      assertThat(pod.serviceAccount()).isEqualTo(request.serviceAccountName());
      assertThat(pod.terminating()).isFalse();
      Set<String> selecting = new java.util.HashSet<>();
      services.stream().filter(s -> s.selects(labels)).forEach(s -> selecting.add(s.name()));
      assertOwned(issue, pod, selecting);
    }
  }

  private static PodCertificateRules.Decision timed(PodCertificateRules.Request request, ClusterView cluster) {
    long start = System.nanoTime();
    PodCertificateRules.Decision decision = RULES.decide(request, cluster);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time to decide").isLessThan(TOO_SLOW);
    assertThat(decision).isNotNull();
    if (decision instanceof PodCertificateRules.Deny deny) {
      assertThat(PodCertificateRules.DENIAL_REASONS).contains(deny.reason());
      assertThat(deny.message()).isNotBlank();
    }
    if (decision instanceof PodCertificateRules.Fail fail) {
      assertThat(PodCertificateRules.FAILURE_REASONS).contains(fail.reason());
    }
    return decision;
  }

  /** Everything issued is the Pod's: its SPIFFE ID, qualified names of {@code services}, its own IPs. */
  private static void assertOwned(PodCertificateRules.Issue issue, ClusterView.PodInfo pod, Set<String> services) {
    assertThat(issue.uris()).containsExactly("spiffe://cluster.local/ns/" + NS + "/sa/" + pod.serviceAccount());
    for (String dns : issue.dnsNames()) {
      assertThat(services.stream().anyMatch(s -> dns.equals(s + "." + NS) || dns.equals(s + "." + NS + ".svc")
          || dns.equals(s + "." + NS + ".svc.cluster.local"))).as("%s is a qualified name of %s", dns, services)
          .isTrue();
    }
    if (pod.hostNetwork()) {
      assertThat(issue.ips()).isEmpty();
    }
    for (String ip : issue.ips()) {
      assertThat(pod.podIps().stream().anyMatch(own -> {
        try {
          return java.net.InetAddress.getByName(own).getHostAddress().equals(ip);
        } catch (java.net.UnknownHostException e) {
          return false;
        }
      })).as("%s is one of the Pod's IPs %s", ip, pod.podIps()).isTrue();
    }
    assertThat(issue.names().size()).isLessThanOrEqualTo(64);
  }
}
