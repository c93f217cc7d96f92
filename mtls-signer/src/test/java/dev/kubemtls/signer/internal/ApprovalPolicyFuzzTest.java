package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.SignerConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Coverage-guided fuzz tests of the approver's reading of {@code spec.request}: {@link ParsedCsr}
 * and {@link ApprovalPolicy#decide}. The requester is fixed, as the apiserver would record it
 * ({@code system:serviceaccount:shop:orders} with a token bound to Pod {@code shop/orders-0}, IP
 * 10.1.2.3, selected by Service {@code orders}); the cluster is a table. The seeds are real CSRs made
 * with BouncyCastle for that requester: what kube-mtls' own requester sends, RSA and Ed25519 keys,
 * IPv6, and the hostile forms the policy must deny (CA, no proof of possession, email, wildcard,
 * another namespace, a multi-RDN subject).
 *
 * <p>The contract: {@link ParsedCsr#parse} raises only {@link InvalidMaterialException}, and a
 * parsed request answers every accessor and {@link ParsedCsr#signatureValid()} without throwing;
 * {@link ApprovalPolicy#decide} never throws for a well-behaved {@link ClusterView} (the
 * controller would retry a throwing request forever) and approves only a request whose signature
 * verifies and that asks for no CA; the parse takes no seconds for any input (the largest seed is 64 KiB).
 * Ownership (issue 24): everything an approved request names is the requester's: its own SPIFFE ID,
 * its Pod's IPs, and DNS names of Services selecting its Pod (strict) or of its own namespace by the
 * most specific reading (loose); a common name is one of those names or the requester's user name.
 * No decision's message carries a control character. Seeds include 40 nested SEQUENCEs in an
 * extension and a 16384-bit RSA modulus, which must be denied without being decoded.
 *
 * <ul>
 *   <li>{@code decide}: the bytes of the decoded {@code spec.request}, read as the controller
 *       reads them (US-ASCII).</li>
 *   <li>{@code decideDer}: the DER of a request, wrapped in PEM, so that the fuzzer mutates the
 *       PKCS#10 structure rather than its base64.</li>
 * </ul>
 */
class ApprovalPolicyFuzzTest {

  /** Milliseconds are normal for the largest seed; this much means a blow-up, not a slow machine. */
  private static final Duration TOO_SLOW = Duration.ofSeconds(2);

  private static final ApprovalPolicy STRICT = ApprovalPolicy.strict("cluster.local", "cluster.local");
  private static final ApprovalPolicy LOOSE = ApprovalPolicy.loose("cluster.local", "cluster.local");
  private static final Requester REQUESTER = new Requester("system:serviceaccount:shop:orders", "sa-uid",
      List.of("system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"),
      Map.of(Requester.POD_NAME_EXTRA, List.of("orders-0"), Requester.POD_UID_EXTRA, List.of("pod-uid")));
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");
  private static final ClusterView CLUSTER = new ClusterView() {
    @Override
    public Optional<PodInfo> pod(String namespace, String name) {
      return namespace.equals("shop") && name.equals("orders-0")
          ? Optional.of(new PodInfo("orders-0", "pod-uid", "orders", Map.of("app", "orders"),
              List.of("10.1.2.3", "fd00::1"), false))
          : Optional.empty();
    }

    @Override
    public List<ServiceInfo> services(String namespace) {
      return namespace.equals("shop")
          ? List.of(new ServiceInfo("orders", Map.of("app", "orders")), new ServiceInfo("carts", Map.of("app", "carts")))
          : List.of();
    }
  };

  private static String resource(String seed) {
    try (java.io.InputStream in = ApprovalPolicyFuzzTest.class.getResourceAsStream(
        "ApprovalPolicyFuzzTestInputs/decide/" + seed)) {
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @FuzzTest
  void decide(byte[] input) {
    check(new String(input, StandardCharsets.US_ASCII));
  }

  @FuzzTest
  void decideDer(byte[] input) {
    if (input.length == 0) {
      return; // an empty block; covered by the PEM reader's tests
    }
    check(Pem.encode("CERTIFICATE REQUEST", input));
  }

  static {
    // Class loading and the first use of the JDK's and BouncyCastle's parsers are not the parse's
    // time: do them once before any input is timed.
    ParsedCsr.parse(resource("requester-ec.csr")).signatureValid();
    ParsedCsr.parse(resource("approved-rsa.csr")).signatureValid();
  }

  private static final String OWN_SPIFFE_ID = "spiffe://cluster.local/ns/shop/sa/orders";
  private static final java.util.Set<String> OWN_IPS = java.util.Set.of("10.1.2.3", "fd00:0:0:0:0:0:0:1");
  private static final java.util.Set<String> OWN_STRICT_NAMES =
      java.util.Set.of("orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local");

  /** The property: an approved request names only what the requester owns. */
  private static void assertOwnedByTheRequester(ApprovalPolicy policy, ParsedCsr parsed) {
    assertThat(parsed.uris()).allMatch(OWN_SPIFFE_ID::equals);
    assertThat(parsed.ipAddresses()).allMatch(OWN_IPS::contains);
    for (String dns : parsed.dnsNames()) {
      if (policy.mode() == SignerConfig.PolicyMode.STRICT) {
        assertThat(OWN_STRICT_NAMES).as("strict: %s", dns).contains(dns);
      } else {
        assertThat(policy.namespaceOf(dns)).as("loose: %s", dns).contains("shop");
      }
    }
    java.util.Set<String> names = new java.util.HashSet<>(parsed.dnsNames());
    names.addAll(parsed.ipAddresses());
    names.addAll(parsed.uris());
    assertThat(names).isNotEmpty();
    org.bouncycastle.asn1.x500.RDN[] rdns = parsed.subject().getRDNs();
    if (rdns.length > 0) {
      assertThat(rdns).hasSize(1);
      String cn = org.bouncycastle.asn1.x500.style.IETFUtils.valueToString(rdns[0].getFirst().getValue());
      String raw = rdns[0].getFirst().getValue() instanceof org.bouncycastle.asn1.ASN1String str ? str.getString() : cn;
      assertThat(names.contains(raw) || raw.equals(REQUESTER.username())).as("CN %s", raw).isTrue();
    }
  }

  private static void check(String pem) {
    ParsedCsr parsed = null;
    long start = System.nanoTime();
    try {
      parsed = ParsedCsr.parse(pem);
    } catch (InvalidMaterialException expected) {
      // decide must deny it as malformed
    } finally {
      assertThat(Duration.ofNanos(System.nanoTime() - start)).as("time to parse the input").isLessThan(TOO_SLOW);
    }
    boolean signatureValid = false;
    if (parsed != null) {
      signatureValid = parsed.signatureValid();
      parsed.keyKind();
      parsed.subject();
      parsed.subjectAltNames();
      parsed.dnsNames();
      parsed.ipAddresses();
      parsed.uris();
      parsed.emails();
      parsed.otherNames();
      parsed.extensionOids();
      assertThat(parsed.toString()).isNotNull();
    }
    for (ApprovalPolicy policy : List.of(STRICT, LOOSE)) {
      ApprovalDecision decision = policy.decide(pem, USAGES, REQUESTER, CLUSTER);
      assertThat(decision).isNotNull();
      if (parsed == null) {
        assertThat(decision.reason()).isEqualTo(ApprovalDecision.MALFORMED_REQUEST);
      }
      assertThat(decision.message().chars().filter(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f)))
          .as("control characters in %s", decision.message()).isEmpty();
      if (decision.approved()) {
        assertThat(parsed).isNotNull();
        assertThat(signatureValid).isTrue();
        assertThat(parsed.caRequested()).isFalse();
        assertThat(parsed.emails()).isEmpty();
        assertThat(parsed.otherNames()).isEmpty();
        assertOwnedByTheRequester(policy, parsed);
      }
    }
  }
}
