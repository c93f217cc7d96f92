package dev.kubemtls.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;

class IssuedCertificateValidatorTest {

  private static final Instant NOW = Instant.parse("2030-06-01T12:00:00Z");
  private static final TestCa CA = TestCa.create("workload-ca", NOW.minus(Duration.ofDays(1)), Duration.ofDays(365));
  private static final WorkloadIdentity ID = WorkloadIdentity.builder("shop", "orders").services("orders")
      .podIp("10.1.2.3").role(Role.BOTH).build();
  private static final KeyPair KEY = TestCa.newKeyPair();
  private static final TrustBundle TRUST = new TrustBundle(List.of(CA.certificate()), "test");

  private static TestCa.LeafBuilder good(TestCa ca, KeyPair key) {
    return ca.leaf(key.getPublic()).commonName("system:serviceaccount:shop:orders")
        .dns("orders", "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local")
        .ip("10.1.2.3").spiffe("shop", "orders").validity(NOW.minus(Duration.ofMinutes(5)), Duration.ofHours(1));
  }

  private static List<X509Certificate> validate(X509Certificate... chain) {
    return new IssuedCertificateValidator(ID, KEY.getPublic(), TRUST, Duration.ofMinutes(2))
        .validate("csr-1", Pem.encodeCertificates(List.of(chain)), NOW);
  }

  private static AbstractThrowableAssert<?, ? extends Throwable> rejects(X509Certificate... chain) {
    return assertThatThrownBy(() -> validate(chain)).isInstanceOfSatisfying(CertificateFailedException.class,
        e -> assertThat(e.reason()).isEqualTo("InvalidCertificate"));
  }

  @Test
  void acceptsAMatchingCertificate() {
    X509Certificate leaf = good(CA, KEY).build();
    assertThat(validate(leaf)).containsExactly(leaf);
    assertThat(validate(leaf, CA.certificate())).containsExactly(leaf, CA.certificate());
  }

  @Test
  void rejectsACertificateForAnotherKey() {
    rejects(good(CA, TestCa.newKeyPair()).build()).hasMessageContaining("different public key");
  }

  @Test
  void rejectsMissingNames() {
    X509Certificate noDns = CA.leaf(KEY.getPublic()).dns("orders").ip("10.1.2.3").spiffe("shop", "orders")
        .validity(NOW.minusSeconds(60), Duration.ofHours(1)).build();
    rejects(noDns).hasMessageContaining("lacks the requested DNS name orders.shop");
    X509Certificate noIp = CA.leaf(KEY.getPublic())
        .dns("orders", "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local").spiffe("shop", "orders")
        .validity(NOW.minusSeconds(60), Duration.ofHours(1)).build();
    rejects(noIp).hasMessageContaining("lacks the requested IP address 10.1.2.3");
    X509Certificate wrongUri = CA.leaf(KEY.getPublic())
        .dns("orders", "orders.shop", "orders.shop.svc", "orders.shop.svc.cluster.local").ip("10.1.2.3")
        .spiffe("shop", "carts").validity(NOW.minusSeconds(60), Duration.ofHours(1)).build();
    rejects(wrongUri).hasMessageContaining("lacks the requested URI spiffe://cluster.local/ns/shop/sa/orders");
    rejects(good(CA, KEY).uri("spiffe://cluster.local/ns/kube-system/sa/admin").build())
        .hasMessageContaining("more than one URI identity");
  }

  @Test
  void rejectsMissingExtendedKeyUsages() {
    rejects(good(CA, KEY).usages(true, false).build()).hasMessageContaining("lacks the extended key usage client auth");
    rejects(good(CA, KEY).usages(false, true).build()).hasMessageContaining("lacks the extended key usage server auth");
    rejects(good(CA, KEY).usages(false, false).build()).hasMessageContaining("server auth and client auth");
  }

  @Test
  void aServerOnlyRoleNeedsOnlyServerAuth() {
    WorkloadIdentity server = ID.toBuilder().role(Role.SERVER).build();
    X509Certificate leaf = good(CA, KEY).usages(true, false).build();
    assertThat(new IssuedCertificateValidator(server, KEY.getPublic(), TRUST, Duration.ZERO)
        .validate("csr-1", Pem.encodeCertificates(List.of(leaf)), NOW)).containsExactly(leaf);
  }

  @Test
  void rejectsExpiredAndNotYetValidCertificates() {
    rejects(good(CA, KEY).validity(NOW.minus(Duration.ofHours(2)), Duration.ofHours(1)).build())
        .hasMessageContaining("has expired");
    rejects(good(CA, KEY).validity(NOW.plus(Duration.ofMinutes(10)), Duration.ofHours(1)).build())
        .hasMessageContaining("is not valid yet");
    // Within the allowed skew of two minutes: accepted.
    assertThat(validate(good(CA, KEY).validity(NOW.plus(Duration.ofMinutes(1)), Duration.ofHours(1)).build()))
        .hasSize(1);
  }

  @Test
  void rejectsACertificateFromAnotherCa() {
    TestCa rogue = TestCa.create("rogue", NOW.minus(Duration.ofDays(1)), Duration.ofDays(365));
    rejects(good(rogue, KEY).build()).hasMessageContaining("does not chain to the trust bundle test");
    // Without a trust bundle there is nothing to chain to, and the other checks still apply.
    assertThat(new IssuedCertificateValidator(ID, KEY.getPublic(), null, Duration.ZERO)
        .validate("csr-1", Pem.encodeCertificates(List.of(good(rogue, KEY).build())), NOW)).hasSize(1);
  }

  @Test
  void rejectsACaCertificateAsLeafAndGarbage() {
    rejects(CA.certificate()).hasMessageContaining("different public key");
    assertThatThrownBy(() -> new IssuedCertificateValidator(ID, CA.keyPair().getPublic(), TRUST, Duration.ZERO)
        .validate("csr-1", CA.certificatePem(), NOW))
        .isInstanceOf(CertificateFailedException.class).hasMessageContaining("is a CA certificate");
    assertThatThrownBy(() -> new IssuedCertificateValidator(ID, KEY.getPublic(), TRUST, Duration.ZERO)
        .validate("csr-1", "garbage", NOW))
        .isInstanceOfSatisfying(CertificateFailedException.class, e -> {
          assertThat(e.reason()).isEqualTo("InvalidCertificate");
          assertThat(e.csrName()).isEqualTo("csr-1");
        })
        .hasMessageContaining("status.certificate of CertificateSigningRequest csr-1 holds no PEM block");
  }
}
