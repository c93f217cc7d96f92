package dev.kubemtls.testkit.internal;

import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The PKI of one test control plane: a cluster CA (also the client CA and the
 * kube-controller-manager signing CA), the apiserver's serving certificate, the admin client
 * certificate ({@code system:masters}) and the ServiceAccount token signing key.
 */
public final class Pki {

  public final TestCa ca;
  public final KeyPair servingKey;
  public final X509Certificate servingCert;
  public final KeyPair adminKey;
  public final X509Certificate adminCert;
  public final KeyPair serviceAccountKey;

  public Pki() {
    ca = TestCa.create("kube-mtls-test-cluster-ca");
    Instant now = Instant.now().minus(Duration.ofMinutes(5));
    servingKey = TestCa.newKeyPair();
    servingCert = ca.leaf(servingKey.getPublic()).commonName("kube-apiserver")
        .dns("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local")
        .ip("127.0.0.1", "10.0.0.1").usages(true, false)
        .validity(now, Duration.ofDays(7)).build();
    adminKey = TestCa.newKeyPair();
    adminCert = clientCert(ca, adminKey, "CN=kube-mtls-admin,O=system:masters", now);
    serviceAccountKey = TestCa.newKeyPair();
  }

  /**
   * A client certificate for the kubelet of {@code nodeName}: {@code CN=system:node:<name>} in
   * {@code O=system:nodes}, what the Node authorizer and NodeRestriction recognise.
   */
  public X509Certificate nodeClientCert(KeyPair key, String nodeName) {
    if (!nodeName.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?") || nodeName.length() > 63) {
      throw new IllegalArgumentException("node name '" + nodeName + "' is not a DNS label (lower-case letters,"
          + " digits, '-' and '.', at most 63 characters)");
    }
    return clientCert(ca, key, "CN=system:node:" + nodeName + ",O=system:nodes",
        Instant.now().minus(Duration.ofMinutes(5)));
  }

  private static X509Certificate clientCert(TestCa ca, KeyPair key, String subject, Instant from) {
    try {
      var b = new JcaX509v3CertificateBuilder(ca.certificate(), java.math.BigInteger.valueOf(System.nanoTime()),
          Date.from(from), Date.from(from.plus(Duration.ofDays(7))), new X500Name(subject), key.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth))
          .addExtension(Extension.subjectAlternativeName, false,
              new GeneralNames(new GeneralName(GeneralName.dNSName, "kube-mtls-admin")));
      return new JcaX509CertificateConverter().getCertificate(
          b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(ca.keyPair().getPrivate())));
    } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Writes the files the processes read, returning nothing: paths are fixed under {@code dir}. */
  public void writeTo(Path dir) throws IOException {
    Files.createDirectories(dir);
    write(dir.resolve("ca.crt"), ca.certificatePem());
    write(dir.resolve("ca.key"), TestCa.toPem(ca.keyPair().getPrivate()));
    write(dir.resolve("apiserver.crt"), TestCa.toPem(servingCert));
    write(dir.resolve("apiserver.key"), TestCa.toPem(servingKey.getPrivate()));
    write(dir.resolve("admin.crt"), TestCa.toPem(adminCert));
    write(dir.resolve("admin.key"), TestCa.toPem(adminKey.getPrivate()));
    write(dir.resolve("sa.key"), TestCa.toPem(serviceAccountKey.getPrivate()));
    write(dir.resolve("sa.pub"), TestCa.toPem(serviceAccountKey.getPublic()));
  }

  private static void write(Path file, String text) throws IOException {
    Files.writeString(file, text);
  }
}
