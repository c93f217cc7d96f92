package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.csr.CertificateIssuer;
import dev.kubemtls.kubernetes.trust.TrustBundles;
import dev.kubemtls.testkit.TestCa;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Date;
import java.util.List;
import java.util.function.Supplier;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The rules that the signer and the workloads must apply alike, asked of both sides with the same
 * inputs: whether a certificate is a CA (the signer loading its CA from a Secret, a workload reading
 * the bundle the signer publishes), and whether a signer name is valid (the signer's
 * {@code --signer-name}, a workload's CSR). Before they shared one definition, a CA without a
 * keyUsage extension was taken by the signer and refused by every workload, and the signer took
 * names ({@code kube-mtls.dev/workload/v2}, {@code local/signer}) that no CSR can carry.
 */
class SharedRulesTest {

  private static final InstantSource CLOCK = InstantSource.fixed(Instant.parse("2026-06-01T00:00:00Z"));
  private static final KubernetesClient CLIENT = new KubernetesClientBuilder()
      .withConfig(new ConfigBuilder().withMasterUrl("https://127.0.0.1:1").build()).build();
  private static final WorkloadIdentity ID = WorkloadIdentity.builder("shop", "orders").build();

  @AfterAll
  static void close() {
    CLIENT.close();
  }

  /** One CA certificate shape, and whether RFC 5280 and PKIX make it a CA. */
  private record Shape(String name, boolean isCa, Boolean basicConstraintsCa, Integer keyUsage) { }

  private static final List<Shape> SHAPES = List.of(
      new Shape("CA with keyCertSign and cRLSign", true, true, KeyUsage.keyCertSign | KeyUsage.cRLSign),
      new Shape("CA without a keyUsage extension (openssl req -x509 -extensions v3_ca)", true, true, null),
      new Shape("CA whose keyUsage lacks keyCertSign", false, true, KeyUsage.digitalSignature | KeyUsage.cRLSign),
      new Shape("basicConstraints CA=false", false, false, KeyUsage.keyCertSign),
      new Shape("no basicConstraints at all", false, null, null));

  @Test
  void signerAndWorkloadsAgreeOnWhatIsACa() throws Exception {
    for (Shape shape : SHAPES) {
      KeyPair key = TestCa.newKeyPair();
      X509Certificate cert = certificate(shape, key);
      String certPem = TestCa.toPem(cert);
      String keyPem = TestCa.toPem(key.getPrivate());

      boolean signerTakesIt = accepts(() -> CertificateAuthority.fromPem(certPem, keyPem, "Secret pki/ca",
          ValidityPolicy.DEFAULT, CLOCK, new SecureRandom()));
      boolean workloadTakesIt = accepts(() -> TrustBundles.parse(certPem, "ConfigMap shop/kube-mtls-ca-bundle key ca.crt",
          "shop/kube-mtls-ca-bundle@1", CLOCK.instant()));

      assertThat(signerTakesIt).as("the signer on a " + shape.name()).isEqualTo(shape.isCa());
      assertThat(workloadTakesIt).as("a workload on a " + shape.name()).isEqualTo(shape.isCa());
    }
  }

  @Test
  void aRefusedCaIsExplainedTheSameWayOnBothSides() throws Exception {
    Shape noKeyCertSign = SHAPES.get(2);
    KeyPair key = TestCa.newKeyPair();
    String certPem = TestCa.toPem(certificate(noKeyCertSign, key));
    assertThatThrownBy(() -> CertificateAuthority.fromPem(certPem, TestCa.toPem(key.getPrivate()), "Secret pki/ca",
        ValidityPolicy.DEFAULT, CLOCK, new SecureRandom()))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("lacks keyCertSign");
    assertThatThrownBy(() -> TrustBundles.parse(certPem, "ConfigMap shop/b key ca.crt", "v", CLOCK.instant()))
        .isInstanceOf(InvalidMaterialException.class).hasMessageContaining("lacks keyCertSign");
  }

  private static final List<String> VALID_NAMES = List.of(
      "kube-mtls.dev/workload", "example.com/a.b", "a.b/c", "sub.example.com/signer-1",
      "example.com/" + "p".repeat(63) + "." + "q".repeat(200));
  private static final List<String> INVALID_NAMES = List.of(
      "kube-mtls.dev/workload/v2", "local/signer", "no-slash", "example.com/", "/path", "example.com/Upper",
      "example.com/a_b", "example.com/a..b", "example.com/-x", "Example.com/x", "example..com/x",
      "example.com/x.", "-a.com/x", "a.com/x y", "a." + "b".repeat(64) + ".com/x",
      "example.com/" + "p".repeat(254), "a".repeat(250) + ".com/x");
  private static final List<String> RESERVED_NAMES = List.of(
      "kubernetes.io/kube-apiserver-client", "beta.kubernetes.io/x");

  @Test
  void signerAndWorkloadsAgreeOnSignerNames() {
    for (String name : VALID_NAMES) {
      assertThat(RequestRules.requireSignerName(name)).as("signer, " + name).isEqualTo(name);
      assertThat(CertificateIssuer.builder(CLIENT, ID, name).build().signerName()).as("workload, " + name)
          .isEqualTo(name);
    }
    for (String name : INVALID_NAMES) {
      assertThatThrownBy(() -> RequestRules.requireSignerName(name)).as("signer, " + name)
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--signer-name");
      assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, name).build()).as("workload, " + name)
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("signerName '" + name + "'");
    }
    for (String name : RESERVED_NAMES) {
      assertThatThrownBy(() -> RequestRules.requireSignerName(name)).as("signer, " + name)
          .hasMessageContaining("reserved");
      assertThatThrownBy(() -> CertificateIssuer.builder(CLIENT, ID, name).build()).as("workload, " + name)
          .hasMessageContaining("reserved");
      assertThat(SignerNames.require(name, true)).isEqualTo(name);
    }
  }

  private static boolean accepts(Supplier<?> load) {
    try {
      load.get();
      return true;
    } catch (InvalidMaterialException e) {
      return false;
    }
  }

  private static X509Certificate certificate(Shape shape, KeyPair key) throws Exception {
    X500Name subject = new X500Name("CN=" + shape.name().replaceAll("[^A-Za-z0-9 ]", ""));
    Instant now = CLOCK.instant();
    JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, BigInteger.valueOf(now.toEpochMilli()),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(30))), subject, key.getPublic());
    if (shape.basicConstraintsCa() != null) {
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(shape.basicConstraintsCa()));
    }
    if (shape.keyUsage() != null) {
      b.addExtension(Extension.keyUsage, true, new KeyUsage(shape.keyUsage()));
    }
    return new JcaX509CertificateConverter().getCertificate(
        b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate())));
  }
}
