package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.internal.ParsedCsr;
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
      if (decision.approved()) {
        assertThat(parsed).isNotNull();
        assertThat(signatureValid).isTrue();
        assertThat(parsed.caRequested()).isFalse();
        assertThat(parsed.emails()).isEmpty();
        assertThat(parsed.otherNames()).isEmpty();
      }
    }
  }
}
