package dev.kubemtls.kubernetes.csr;

import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Configuration validation and the CSR's contents; nothing here talks to an API server. */
class CertificateIssuerTest {

  /** A client that is never used to connect: building an issuer sends nothing. */
  private static final KubernetesClient CLIENT = new KubernetesClientBuilder()
      .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build()).build();

  private static final WorkloadIdentity ID = WorkloadIdentity.builder("shop", "orders").services("orders")
      .podIp("10.1.2.3").build();

  @AfterAll
  static void close() {
    CLIENT.close();
  }

  @Test
  void rejectsMalformedSignerNames() {
    for (String bad : List.of("no-slash", "a/b/c", "Example.com/x", "localhost/signer", "example.com/", "example.com/-x")) {
      assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, bad).build())
          .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("signerName '" + bad + "'");
    }
  }

  @Test
  void kubernetesIoSignersNeedAnExplicitOptIn() {
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "kubernetes.io/kube-apiserver-client").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("reserved kubernetes.io domain");
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "beta.kubernetes.io/x").build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("reserved");
    assertThat(CertificateIssuer.builder(CLIENT, ID, "kubernetes.io/kube-apiserver-client")
        .allowKubernetesIoSigner(true).build().signerName()).isEqualTo("kubernetes.io/kube-apiserver-client");
  }

  @Test
  void rejectsShortOrFractionalExpirationsAndNonPositiveTimeouts() {
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload")
        .expiration(Duration.ofSeconds(599)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expiration PT9M59S");
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload")
        .expiration(Duration.ofMillis(700_500)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("whole number of seconds");
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload")
        .timeout(Duration.ZERO).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("timeout");
    assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload").build().issue(0))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("generation");
  }

  @Test
  void csrCarriesSignerUsagesExpirationAndASignedPkcs10() throws Exception {
    CertificateIssuer issuer = CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload")
        .keyAlgorithm(KeyAlgorithm.RSA_2048).expiration(Duration.ofHours(2)).build();
    KeyPair kp = KeyAlgorithm.RSA_2048.generate(new SecureRandom());
    CertificateSigningRequest csr = issuer.csrFor(kp);

    assertThat(csr.getMetadata().getGenerateName()).isEqualTo("kube-mtls-orders-");
    assertThat(csr.getMetadata().getName()).isNull();
    assertThat(csr.getSpec().getSignerName()).isEqualTo("kube-mtls.dev/workload");
    assertThat(csr.getSpec().getExpirationSeconds()).isEqualTo(7200);
    assertThat(csr.getSpec().getUsages())
        .containsExactly("digital signature", "key encipherment", "server auth", "client auth");

    String pem = new String(Base64.getDecoder().decode(csr.getSpec().getRequest()), StandardCharsets.US_ASCII);
    assertThat(pem).startsWith("-----BEGIN CERTIFICATE REQUEST-----");
    PKCS10CertificationRequest request;
    try (PEMParser parser = new PEMParser(new java.io.StringReader(pem))) {
      request = (PKCS10CertificationRequest) parser.readObject();
    }
    assertThat(request.isSignatureValid(new JcaContentVerifierProviderBuilder().build(kp.getPublic()))).isTrue();
    assertThat(request.getSubjectPublicKeyInfo().getEncoded()).isEqualTo(kp.getPublic().getEncoded());
    assertThat(IETFUtils.valueToString(request.getSubject().getRDNs(BCStyle.CN)[0].getFirst().getValue()))
        .isEqualTo("system:serviceaccount:shop:orders");

    Extensions ext = Extensions.getInstance(request.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest)[0]
        .getAttrValues().getObjectAt(0));
    List<String> dns = new ArrayList<>();
    List<InetAddress> ips = new ArrayList<>();
    List<String> uris = new ArrayList<>();
    for (GeneralName n : GeneralNames.fromExtensions(ext, Extension.subjectAlternativeName).getNames()) {
      switch (n.getTagNo()) {
        case GeneralName.dNSName -> dns.add(n.getName().toString());
        case GeneralName.iPAddress -> ips.add(InetAddress.getByAddress(ASN1OctetString.getInstance(n.getName()).getOctets()));
        case GeneralName.uniformResourceIdentifier -> uris.add(n.getName().toString());
        default -> throw new AssertionError("unexpected SAN " + n);
      }
    }
    assertThat(dns).containsExactly("orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local");
    assertThat(ips).containsExactly(InetAddress.getByName("10.1.2.3"));
    assertThat(uris).containsExactly("spiffe://cluster.local/ns/shop/sa/orders");
  }

  @Test
  void ecCsrsVerifyToo() throws Exception {
    for (KeyAlgorithm alg : List.of(KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384)) {
      KeyPair kp = alg.generate(new SecureRandom());
      CertificateSigningRequest csr = CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload")
          .keyAlgorithm(alg).build().csrFor(kp);
      assertThat(csr.getSpec().getUsages()).doesNotContain("key encipherment");
      String pem = new String(Base64.getDecoder().decode(csr.getSpec().getRequest()), StandardCharsets.US_ASCII);
      try (PEMParser parser = new PEMParser(new java.io.StringReader(pem))) {
        PKCS10CertificationRequest request = (PKCS10CertificationRequest) parser.readObject();
        assertThat(request.isSignatureValid(new JcaContentVerifierProviderBuilder().build(kp.getPublic())))
            .as(alg.name()).isTrue();
      }
    }
  }

  @Test
  void aRememberedRequestIsResumedOnlyWhileYoungerThanTheLifetimeAndClearOfTheCleaner() {
    java.time.Instant created = java.time.Instant.parse("2026-12-01T00:00:00Z");
    Duration day = Duration.ofHours(24);
    Duration fiveMinutes = Duration.ofMinutes(5);
    // Requested lifetime 1 h: resumable up to (not at) 1 h of age.
    assertThat(CertificateIssuer.staleReason(created, created.plusSeconds(3599), Duration.ofHours(1), fiveMinutes))
        .isNull();
    assertThat(CertificateIssuer.staleReason(created, created.plusSeconds(3600), Duration.ofHours(1), fiveMinutes))
        .contains("older than the requested lifetime PT1H");
    // Lifetime 24 h: the wait (5 min) must end before 23 h of age, an hour ahead of the cleaner's 24 h.
    java.time.Instant lastStart = created.plus(Duration.ofHours(23)).minus(fiveMinutes);
    assertThat(CertificateIssuer.staleReason(created, lastStart.minusSeconds(1), day, fiveMinutes)).isNull();
    assertThat(CertificateIssuer.staleReason(created, lastStart, day, fiveMinutes)).contains("CSR cleaner");
    // A wait longer than the cleaner allows never resumes; an unknown creation time neither.
    assertThat(CertificateIssuer.staleReason(created, created, Duration.ofDays(7), Duration.ofHours(23)))
        .contains("CSR cleaner");
    assertThat(CertificateIssuer.staleReason(null, created, day, fiveMinutes)).contains("unknown");
  }

  @Test
  void toStringNeverShowsTheKey() throws Exception {
    KeyPair kp = KeyAlgorithm.EC_P256.generate(new SecureRandom());
    TlsIdentity tls = new TlsIdentity(kp.getPrivate(), List.of(dev.kubemtls.testkit.TestCa.create("ca")
        .leaf(kp.getPublic()).build()), 1);
    assertThat(tls.toString()).contains("(hidden)").doesNotContain(kp.getPrivate().toString());
    assertThat(CertificateIssuer.builder(CLIENT, ID, "kube-mtls.dev/workload").build().toString())
        .contains("spiffe://cluster.local/ns/shop/sa/orders");
  }
}
