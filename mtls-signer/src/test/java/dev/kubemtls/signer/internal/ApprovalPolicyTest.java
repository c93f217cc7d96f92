package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ApprovalPolicyTest {

  private static final String SPIFFE = "spiffe://cluster.local/ns/shop/sa/web";
  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");
  private static final Requester BOUND = requester("system:serviceaccount:shop:web", "web-0", "uid-web-0");
  private static final Requester UNBOUND = requester("system:serviceaccount:shop:web", null, null);

  /** A namespace "shop" with Pod web-0 (SA web, app=web, 10.1.2.3) selected by Service "web", and a Service "db". */
  private static final ClusterView CLUSTER = new ClusterView() {
    private final Map<String, ClusterView.PodInfo> pods = Map.of(
        "shop/web-0", new ClusterView.PodInfo("web-0", "uid-web-0", "web", Map.of("app", "web"),
            List.of("10.1.2.3", "fd00::3"), false),
        "shop/other-sa", new ClusterView.PodInfo("other-sa", "uid-o", "db", Map.of("app", "web"),
            List.of("10.1.2.4"), false),
        "shop/dying", new ClusterView.PodInfo("dying", "uid-d", "web", Map.of("app", "web"),
            List.of("10.1.2.5"), true),
        "shop/host-0", new ClusterView.PodInfo("host-0", "uid-h", "web", Map.of("app", "web"),
            List.of("192.168.0.7"), false, true));

    @Override
    public Optional<PodInfo> pod(String namespace, String name) {
      return Optional.ofNullable(pods.get(namespace + "/" + name));
    }

    @Override
    public List<ServiceInfo> services(String namespace) {
      return namespace.equals("shop")
          ? List.of(new ServiceInfo("web", Map.of("app", "web")), new ServiceInfo("db", Map.of("app", "db")),
              new ServiceInfo("headless-no-selector", Map.of()))
          : List.of();
    }
  };

  private static final ApprovalPolicy STRICT = ApprovalPolicy.strict("cluster.local", "cluster.local");
  private static final ApprovalPolicy LOOSE = ApprovalPolicy.loose("cluster.local", "cluster.local");

  static Stream<Arguments> cases() {
    List<Arguments> c = new ArrayList<>();
    // Allowed.
    c.add(of("SPIFFE ID only, unbound token", STRICT, TestCsr.builder().uri(SPIFFE), USAGES, UNBOUND, null));
    c.add(of("every qualified service name form", STRICT, TestCsr.builder().uri(SPIFFE)
        .dns("web.shop", "web.shop.svc", "web.shop.svc.cluster.local"), USAGES, BOUND, null));
    c.add(of("the bare service name, opted in", STRICT.withBareServiceNames(true), TestCsr.builder().uri(SPIFFE)
        .dns("web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"), USAGES, BOUND, null));
    c.add(of("loose: namespace svc, its own names", LOOSE, TestCsr.builder()
        .dns("echo.svc.svc", "echo.svc.svc.cluster.local", "web-0.echo.svc.svc.cluster.local"), USAGES,
        requesterIn("svc", null, null), null));
    c.add(of("only client auth", STRICT, TestCsr.builder().uri(SPIFFE), List.of("digital signature", "client auth"),
        UNBOUND, null));
    c.add(of("pod IPs v4 and v6", STRICT, TestCsr.builder().uri(SPIFFE).ip("10.1.2.3", "fd00::3"), USAGES, BOUND,
        null));
    c.add(of("CN equal to a DNS SAN", STRICT, TestCsr.builder().subject("CN=web.shop.svc").dns("web.shop.svc"),
        USAGES, BOUND, null));
    c.add(of("CN equal to the requester's username", STRICT, TestCsr.builder()
        .subject("CN=system:serviceaccount:shop:web").uri(SPIFFE), USAGES, UNBOUND, null));
    c.add(of("RSA with key encipherment", STRICT, TestCsr.builder().key(TestCsr.rsaKey()).uri(SPIFFE),
        List.of("digital signature", "key encipherment", "server auth"), UNBOUND, null));
    c.add(of("loose: any name under the namespace, unbound", LOOSE, TestCsr.builder()
        .dns("anything.shop.svc", "pod-0.db.shop.svc.cluster.local", "x.shop"), USAGES, UNBOUND, null));
    // Denied.
    c.add(of("the bare service name, by default", STRICT, TestCsr.builder().uri(SPIFFE).dns("web", "web.shop"),
        USAGES, BOUND, ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: the bare service name", LOOSE, TestCsr.builder().dns("web"), USAGES, UNBOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: namespace svc claims another namespace's <svc>.<ns>.svc", LOOSE,
        TestCsr.builder().dns("echo.shop.svc"), USAGES, requesterIn("svc", null, null),
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: namespace local claims kubernetes.default.svc.cluster.local", LOOSE,
        TestCsr.builder().dns("kubernetes.default.svc.cluster.local"), USAGES, requesterIn("local", null, null),
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: namespace cluster claims echo.shop.svc.cluster", LOOSE,
        TestCsr.builder().dns("echo.shop.svc.cluster"), USAGES, requesterIn("cluster", null, null), null));
    c.add(of("a host-network pod's IP", STRICT, TestCsr.builder().uri(SPIFFE).ip("192.168.0.7"), USAGES,
        requester("system:serviceaccount:shop:web", "host-0", "uid-h"), ApprovalDecision.UNAUTHORIZED_IP_ADDRESS));
    c.add(of("loose: a host-network pod's IP", LOOSE, TestCsr.builder().ip("192.168.0.7"), USAGES,
        requester("system:serviceaccount:shop:web", "host-0", "uid-h"), ApprovalDecision.UNAUTHORIZED_IP_ADDRESS));
    c.add(of("SA user without the namespace group", STRICT, TestCsr.builder().uri(SPIFFE), USAGES,
        new Requester("system:serviceaccount:shop:web", "u1", List.of("system:serviceaccounts",
            "system:authenticated"), Map.of()), ApprovalDecision.NOT_SERVICE_ACCOUNT));
    c.add(of("SA user with another namespace's group", STRICT, TestCsr.builder().uri(SPIFFE), USAGES,
        new Requester("system:serviceaccount:shop:web", "u1", List.of("system:serviceaccounts",
            "system:serviceaccounts:billing", "system:authenticated"), Map.of()), ApprovalDecision.NOT_SERVICE_ACCOUNT));
    c.add(of("pod name without pod UID", STRICT, TestCsr.builder().uri(SPIFFE).dns("web.shop.svc"), USAGES,
        requester("system:serviceaccount:shop:web", "web-0", null), ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("no extended key usage", STRICT, TestCsr.builder().uri(SPIFFE), List.of("digital signature"), UNBOUND,
        ApprovalDecision.UNEXPECTED_USAGE));
    c.add(of("loose: no extended key usage", LOOSE, TestCsr.builder().dns("x.shop.svc"),
        List.of("digital signature", "key encipherment"), UNBOUND, ApprovalDecision.UNEXPECTED_USAGE));
    c.add(of("a user, not a ServiceAccount", STRICT, TestCsr.builder().uri(SPIFFE), USAGES,
        new Requester("alice", "u1", List.of("system:authenticated"), Map.of()),
        ApprovalDecision.NOT_SERVICE_ACCOUNT));
    c.add(of("SA-like name without the SA group", STRICT, TestCsr.builder().uri(SPIFFE), USAGES,
        new Requester("system:serviceaccount:shop:web", "u1", List.of("system:authenticated"), Map.of()),
        ApprovalDecision.NOT_SERVICE_ACCOUNT));
    c.add(of("another SA's SPIFFE ID", STRICT, TestCsr.builder().uri("spiffe://cluster.local/ns/shop/sa/db"),
        USAGES, BOUND, ApprovalDecision.SPIFFE_ID_MISMATCH));
    c.add(of("another trust domain", STRICT, TestCsr.builder().uri("spiffe://evil.org/ns/shop/sa/web"), USAGES,
        BOUND, ApprovalDecision.SPIFFE_ID_MISMATCH));
    c.add(of("two URIs", STRICT, TestCsr.builder().uri(SPIFFE, "https://example.com"), USAGES, BOUND,
        ApprovalDecision.SPIFFE_ID_MISMATCH));
    c.add(of("another namespace's service", STRICT, TestCsr.builder().dns("web.billing.svc"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("a service that does not select the pod", STRICT, TestCsr.builder().dns("db.shop.svc"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("a service without selector", STRICT, TestCsr.builder().dns("headless-no-selector"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("another cluster domain", STRICT, TestCsr.builder().dns("web.shop.svc.example.com"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("a public name", STRICT, TestCsr.builder().dns("www.example.com"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("upper case", STRICT, TestCsr.builder().dns("WEB.shop.svc"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: another namespace", LOOSE, TestCsr.builder().dns("web.billing.svc"), USAGES, UNBOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("loose: bare namespace suffix", LOOSE, TestCsr.builder().dns("shop.svc"), USAGES, UNBOUND,
        ApprovalDecision.UNAUTHORIZED_DNS_NAME));
    c.add(of("wildcard", STRICT, TestCsr.builder().dns("*.shop.svc"), USAGES, BOUND,
        ApprovalDecision.WILDCARD_NOT_ALLOWED));
    c.add(of("loose: wildcard", LOOSE, TestCsr.builder().dns("*.shop.svc"), USAGES, UNBOUND,
        ApprovalDecision.WILDCARD_NOT_ALLOWED));
    c.add(of("a CA", STRICT, TestCsr.builder().uri(SPIFFE).ca(), USAGES, BOUND, ApprovalDecision.CA_NOT_ALLOWED));
    c.add(of("email SAN", STRICT, TestCsr.builder().uri(SPIFFE).email("a@b.c"), USAGES, BOUND,
        ApprovalDecision.EMAIL_NOT_ALLOWED));
    c.add(of("cert sign usage", STRICT, TestCsr.builder().uri(SPIFFE), List.of("digital signature", "cert sign"),
        BOUND, ApprovalDecision.UNEXPECTED_USAGE));
    c.add(of("code signing usage", STRICT, TestCsr.builder().uri(SPIFFE), List.of("code signing"), BOUND,
        ApprovalDecision.UNEXPECTED_USAGE));
    c.add(of("key encipherment for EC", STRICT, TestCsr.builder().uri(SPIFFE),
        List.of("digital signature", "key encipherment"), BOUND, ApprovalDecision.UNEXPECTED_USAGE));
    c.add(of("no proof of possession", STRICT, TestCsr.builder().uri(SPIFFE).signedBy(TestCsr.ecKey()), USAGES,
        BOUND, ApprovalDecision.INVALID_SIGNATURE));
    c.add(of("DNS without pod binding", STRICT, TestCsr.builder().dns("web.shop.svc"), USAGES, UNBOUND,
        ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("loose: IP without pod binding", LOOSE, TestCsr.builder().ip("10.1.2.3"), USAGES, UNBOUND,
        ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("bound to a pod that does not exist", STRICT, TestCsr.builder().dns("web"), USAGES,
        requester("system:serviceaccount:shop:web", "gone", null), ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("bound pod UID differs (pod recreated)", STRICT, TestCsr.builder().dns("web"), USAGES,
        requester("system:serviceaccount:shop:web", "web-0", "uid-old"), ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("pod of another SA", STRICT, TestCsr.builder().dns("web"), USAGES,
        requester("system:serviceaccount:shop:web", "other-sa", "uid-o"), ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("terminating pod", STRICT, TestCsr.builder().dns("web"), USAGES,
        requester("system:serviceaccount:shop:web", "dying", "uid-d"), ApprovalDecision.POD_BINDING_REQUIRED));
    c.add(of("another pod's IP", STRICT, TestCsr.builder().ip("10.1.2.4"), USAGES, BOUND,
        ApprovalDecision.UNAUTHORIZED_IP_ADDRESS));
    c.add(of("subject with an organisation", STRICT, TestCsr.builder().subject("CN=web,O=system:masters").uri(SPIFFE),
        USAGES, BOUND, ApprovalDecision.SUBJECT_NOT_ALLOWED));
    c.add(of("CN not among the names", STRICT, TestCsr.builder().subject("CN=admin").uri(SPIFFE), USAGES, BOUND,
        ApprovalDecision.SUBJECT_NOT_ALLOWED));
    c.add(of("CN naming another ServiceAccount", STRICT, TestCsr.builder()
        .subject("CN=system:serviceaccount:shop:db").uri(SPIFFE), USAGES, BOUND, ApprovalDecision.SUBJECT_NOT_ALLOWED));
    c.add(of("no names at all", STRICT, TestCsr.builder(), USAGES, BOUND, ApprovalDecision.NO_IDENTITY));
    // Hardening (issue 12 item 2): each of these was approved before.
    c.add(of("EC P-384", STRICT, TestCsr.builder().key(TestCsr.ecKey("secp384r1")).signatureAlgorithm("SHA384withECDSA")
        .uri(SPIFFE), USAGES, UNBOUND, null));
    c.add(of("RSA 3072 signed with SHA-512", STRICT, TestCsr.builder().key(TestCsr.rsaKey(3072))
        .signatureAlgorithm("SHA512withRSA").uri(SPIFFE), USAGES, UNBOUND, null));
    c.add(of("RSA 1024", STRICT, TestCsr.builder().key(TestCsr.rsaKey(1024)).uri(SPIFFE), USAGES, UNBOUND,
        ApprovalDecision.KEY_NOT_ALLOWED));
    c.add(of("RSA 2047", STRICT, TestCsr.builder().key(TestCsr.rsaKey(2047)).uri(SPIFFE), USAGES, UNBOUND,
        ApprovalDecision.KEY_NOT_ALLOWED));
    c.add(of("EC P-521", STRICT, TestCsr.builder().key(TestCsr.ecKey("secp521r1")).signatureAlgorithm("SHA512withECDSA")
        .uri(SPIFFE), USAGES, UNBOUND, ApprovalDecision.KEY_NOT_ALLOWED));
    c.add(of("Ed25519", STRICT, TestCsr.builder().key(TestCsr.ed25519Key()).uri(SPIFFE), USAGES, UNBOUND,
        ApprovalDecision.KEY_NOT_ALLOWED));
    c.add(of("RSA signed with SHA-1", STRICT, TestCsr.builder().key(TestCsr.rsaKey()).signatureAlgorithm("SHA1withRSA")
        .uri(SPIFFE), USAGES, UNBOUND, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED));
    c.add(of("ECDSA with SHA-1", STRICT, TestCsr.builder().signatureAlgorithm("SHA1withECDSA").uri(SPIFFE), USAGES,
        UNBOUND, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED));
    c.add(of("ECDSA with SHA-224", STRICT, TestCsr.builder().signatureAlgorithm("SHA224withECDSA").uri(SPIFFE), USAGES,
        UNBOUND, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED));
    c.add(of("RSA signed with MD5", STRICT, TestCsr.builder().key(TestCsr.rsaKey()).signatureAlgorithm("MD5withRSA")
        .uri(SPIFFE), USAGES, UNBOUND, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED));
    c.add(of("one allowed DNS name twice", STRICT, TestCsr.builder().uri(SPIFFE).dns("web.shop.svc", "web.shop.svc"),
        USAGES, BOUND, ApprovalDecision.DUPLICATE_NAME));
    c.add(of("the pod IP twice", STRICT, TestCsr.builder().uri(SPIFFE).ip("10.1.2.3", "10.1.2.3"), USAGES, BOUND,
        ApprovalDecision.DUPLICATE_NAME));
    c.add(of("the SPIFFE ID twice", STRICT, TestCsr.builder().uri(SPIFFE, SPIFFE), USAGES, BOUND,
        ApprovalDecision.DUPLICATE_NAME));
    c.add(of("10,000 copies of one allowed name", STRICT, TestCsr.builder().uri(SPIFFE)
        .dns(java.util.Collections.nCopies(10_000, "web.shop.svc").toArray(String[]::new)), USAGES, BOUND,
        ApprovalDecision.TOO_MANY_NAMES));
    c.add(of("65 distinct names, over the default cap of 64", LOOSE, TestCsr.builder().dns(names(65, "x", ".shop.svc")),
        USAGES, UNBOUND, ApprovalDecision.TOO_MANY_NAMES));
    c.add(of("64 distinct names, at the default cap", LOOSE, TestCsr.builder().dns(names(64, "x", ".shop.svc")),
        USAGES, UNBOUND, null));
    c.add(of("a lower cap of 3", LOOSE.withMaxNames(3), TestCsr.builder().dns(names(4, "x", ".shop.svc")), USAGES,
        UNBOUND, ApprovalDecision.TOO_MANY_NAMES));
    c.add(of("IPv4-mapped IPv6 form of the pod IP", STRICT, TestCsr.builder().uri(SPIFFE).mappedIp("10.1.2.3"), USAGES,
        BOUND, ApprovalDecision.MAPPED_IP_ADDRESS));
    c.add(of("loose: IPv4-mapped IPv6 form of the pod IP", LOOSE, TestCsr.builder().mappedIp("10.1.2.3"), USAGES,
        BOUND, ApprovalDecision.MAPPED_IP_ADDRESS));
    return c.stream();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void decides(String name, ApprovalPolicy policy, TestCsr csr, List<String> usages, Requester requester,
      String deniedReason) {
    ApprovalDecision decision = policy.decide(csr.pem(), usages, requester, CLUSTER);
    if (deniedReason == null) {
      assertThat(decision.approved()).as(decision.message()).isTrue();
      assertThat(decision.reason()).isEqualTo(ApprovalDecision.APPROVED);
    } else {
      assertThat(decision.approved()).as(decision.message()).isFalse();
      assertThat(decision.reason()).as(decision.message()).isEqualTo(deniedReason);
      assertThat(decision.message()).isNotBlank();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("malformed")
  void deniesMalformedRequests(String name, String pem) {
    ApprovalDecision d = STRICT.decide(pem, USAGES, BOUND, CLUSTER);
    assertThat(d.approved()).isFalse();
    assertThat(d.reason()).isEqualTo(ApprovalDecision.MALFORMED_REQUEST);
  }

  static Stream<Arguments> malformed() {
    String good = TestCsr.builder().uri(SPIFFE).pem();
    return Stream.of(
        Arguments.of("empty", ""),
        Arguments.of("not PEM", "hello"),
        Arguments.of("a certificate block", good.replace("CERTIFICATE REQUEST", "CERTIFICATE")),
        Arguments.of("two requests", good + good),
        Arguments.of("garbage DER", "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n"),
        Arguments.of("truncated", good.substring(0, good.length() / 2)));
  }

  @org.junit.jupiter.api.Test
  void controlCharactersInARequestNeverReachAMessageRaw() {
    // A forged log line, a terminal escape (CSI via ESC and via C1), a bidi override and a line separator.
    String cn = "x\n2026-01-01 INFO issued CSR evil\r\u001b[2J\u009b31m\u202etxt\u2028";
    ApprovalDecision denied = STRICT.decide(TestCsr.builder().subject("CN=" + cn)
        .uri(SPIFFE).pem(), USAGES, BOUND, CLUSTER);
    assertThat(denied.reason()).isEqualTo(ApprovalDecision.SUBJECT_NOT_ALLOWED);
    // Through a SAN as well, the value a DNS check names.
    ApprovalDecision dns = STRICT.decide(TestCsr.builder().dns("web.shop.svc\nINFO approved", "a\u001b[1mb")
        .pem(), USAGES, BOUND, CLUSTER);
    assertThat(dns.reason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    for (ApprovalDecision d : List.of(denied, dns)) {
      assertThat(d.message().chars().filter(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x202e || c == 0x2028))
          .as(d.message()).isEmpty();
    }
    assertThat(dns.message()).contains("web.shop.svc\\nINFO approved").contains("a\\u001b[1mb");
  }

  @org.junit.jupiter.api.Test
  void anOversizedRsaKeyIsRefusedFromItsEncodingWithoutDecodingIt() {
    // No 16384-bit key is generated: the modulus is a random odd number. Were it decoded, BouncyCastle
    // would run its primality tests on it; the parse must not even try.
    String pem = TestCsr.builder().spki(TestCsr.rsaSpki(16384)).uri(SPIFFE).pem();
    ParsedCsr parsed = ParsedCsr.parse(pem);
    assertThat(parsed.publicKey()).isNull();
    assertThat(parsed.keyKind()).isEqualTo(ParsedCsr.KeyKind.RSA);
    ApprovalDecision d = STRICT.decide(parsed, USAGES, BOUND, CLUSTER);
    assertThat(d.reason()).isEqualTo(ApprovalDecision.KEY_NOT_ALLOWED);
    assertThat(d.message()).contains("16384 bits");
    // A size the signer issues for is decoded as before.
    assertThat(ParsedCsr.parse(TestCsr.builder().key(TestCsr.rsaKey()).uri(SPIFFE)
        .pem()).publicKey()).isInstanceOf(java.security.interfaces.RSAPublicKey.class);
  }

  @org.junit.jupiter.api.Test
  void aRequestNestedDeeperThanTheLimitIsMalformed() {
    org.bouncycastle.asn1.ASN1Encodable deep = new org.bouncycastle.asn1.DERUTF8String("x");
    for (int i = 0; i < 40; i++) {
      deep = new org.bouncycastle.asn1.DERSequence(deep);
    }
    ApprovalDecision d = STRICT.decide(TestCsr.builder().uri(SPIFFE)
        .extension(new org.bouncycastle.asn1.ASN1ObjectIdentifier("1.3.6.1.4.1.99999.1"), deep).pem(), USAGES, BOUND,
        CLUSTER);
    assertThat(d.reason()).isEqualTo(ApprovalDecision.MALFORMED_REQUEST);
    assertThat(d.message()).contains("nested deeper than 32 levels");
  }

  @org.junit.jupiter.api.Test
  void aUserIsDeniedWithoutTheRequestBeingRead() {
    ApprovalDecision d = STRICT.decide("not even PEM", USAGES,
        new Requester("alice", "u1", List.of("system:authenticated"), Map.of()), CLUSTER);
    assertThat(d.reason()).isEqualTo(ApprovalDecision.NOT_SERVICE_ACCOUNT);
  }

  @org.junit.jupiter.api.Test
  void namespacesOfDnsNamesAreReadByTheirMostSpecificForm() {
    assertThat(LOOSE.namespaceOf("echo.shop.svc")).contains("shop");
    // Namespace svc cannot use the short form: echo.svc reads as the namespace echo's own domain.
    assertThat(LOOSE.namespaceOf("echo.svc")).isEmpty();
    assertThat(LOOSE.namespaceOf("echo.shop.svc.cluster.local")).contains("shop");
    assertThat(LOOSE.namespaceOf("web-0.db.shop.svc.cluster.local")).contains("shop");
    assertThat(LOOSE.namespaceOf("kubernetes.default.svc.cluster.local")).contains("default");
    assertThat(LOOSE.namespaceOf("x.local")).contains("local");
    assertThat(LOOSE.namespaceOf("shop.svc")).isEmpty();
    assertThat(LOOSE.namespaceOf("shop")).isEmpty();
    assertThat(LOOSE.namespaceOf("shop.svc.cluster.local")).isEmpty();
  }

  @org.junit.jupiter.api.Test
  void aDenialOfThousandsOfNamesHasAShortMessage() {
    // 3,000 distinct names the requester may not have: once a 77,000-character message.
    String[] names = names(3_000, "some-long-service-name-", ".other-namespace.svc.cluster.local");
    ApprovalDecision tooMany = STRICT.decide(TestCsr.builder().dns(names).pem(), USAGES, BOUND, CLUSTER);
    assertThat(tooMany.reason()).isEqualTo(ApprovalDecision.TOO_MANY_NAMES);
    assertThat(tooMany.message()).hasSizeLessThan(200).contains("3000");

    // With the cap at its ceiling the names reach the DNS check: first few named, the rest counted.
    ApprovalDecision unauthorized = STRICT.withMaxNames(256)
        .decide(TestCsr.builder().dns(java.util.Arrays.copyOf(names, 256)).pem(), USAGES, BOUND, CLUSTER);
    assertThat(unauthorized.reason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    assertThat(unauthorized.message()).hasSizeLessThan(700).contains(names[0]).contains("and 251 more")
        .doesNotContain(names[5]);

    // Duplicates: each named once, bounded.
    String[] dupes = new String[200];
    for (int i = 0; i < dupes.length; i++) {
      dupes[i] = "x" + (i % 100) + ".shop.svc";
    }
    ApprovalDecision duplicate = LOOSE.withMaxNames(256).decide(TestCsr.builder().dns(dupes).pem(), USAGES, UNBOUND,
        CLUSTER);
    assertThat(duplicate.reason()).isEqualTo(ApprovalDecision.DUPLICATE_NAME);
    assertThat(duplicate.message()).hasSizeLessThan(300).contains("and 95 more");
  }

  @org.junit.jupiter.api.Test
  void theMappedAddressIsShownInItsSixteenByteForm() {
    ApprovalDecision d = STRICT.decide(TestCsr.builder().uri(SPIFFE).mappedIp("10.1.2.3").pem(), USAGES, BOUND,
        CLUSTER);
    assertThat(d.message()).contains("::ffff:10.1.2.3");
  }

  @org.junit.jupiter.api.Test
  void aHugeNameOrSubjectIsClippedInTheMessage() {
    String longName = "a".repeat(60) + "." + "b".repeat(60) + "." + "c".repeat(60) + ".billing.svc";
    ApprovalDecision d = STRICT.decide(TestCsr.builder().dns(longName).pem(), USAGES, BOUND, CLUSTER);
    assertThat(d.reason()).isEqualTo(ApprovalDecision.UNAUTHORIZED_DNS_NAME);
    assertThat(d.message()).doesNotContain(longName).contains("more characters");
    ApprovalDecision subject = STRICT.decide(TestCsr.builder().subject(String.join(",",
        java.util.Collections.nCopies(300, "OU=" + "x".repeat(60)))).uri(SPIFFE).pem(),
        USAGES, BOUND, CLUSTER);
    assertThat(subject.reason()).isEqualTo(ApprovalDecision.SUBJECT_NOT_ALLOWED);
    assertThat(subject.message()).hasSizeLessThan(700);
  }

  @org.junit.jupiter.api.Test
  void theNameCapIsBetweenOneAndTheCeiling() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> STRICT.withMaxNames(0))
        .isInstanceOf(IllegalArgumentException.class);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> STRICT.withMaxNames(257))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(STRICT.maxNames()).isEqualTo(64);
  }

  private static String[] names(int n, String prefix, String suffix) {
    String[] out = new String[n];
    for (int i = 0; i < n; i++) {
      out[i] = prefix + i + suffix;
    }
    return out;
  }

  private static Arguments of(String name, ApprovalPolicy p, TestCsr csr, List<String> usages, Requester r,
      String reason) {
    return Arguments.of(name, p, csr, usages, r, reason);
  }

  private static Requester requesterIn(String namespace, String podName, String podUid) {
    Map<String, List<String>> extra = new java.util.HashMap<>();
    if (podName != null) {
      extra.put(Requester.POD_NAME_EXTRA, List.of(podName));
    }
    if (podUid != null) {
      extra.put(Requester.POD_UID_EXTRA, List.of(podUid));
    }
    return new Requester("system:serviceaccount:" + namespace + ":web", "uid", List.of("system:serviceaccounts",
        "system:serviceaccounts:" + namespace, "system:authenticated"), extra);
  }

  private static Requester requester(String username, String podName, String podUid) {
    Map<String, List<String>> extra = new java.util.HashMap<>();
    if (podName != null) {
      extra.put(Requester.POD_NAME_EXTRA, List.of(podName));
    }
    if (podUid != null) {
      extra.put(Requester.POD_UID_EXTRA, List.of(podUid));
    }
    return new Requester(username, "uid", List.of("system:serviceaccounts", "system:serviceaccounts:shop",
        "system:authenticated"), extra);
  }
}
