package dev.kubemtls.kubernetes.internal;

import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Builds the PKCS#10 certification request for a workload: subject CN
 * {@code system:serviceaccount:<ns>:<sa>}, and an extension request for a subjectAltName holding the
 * DNS names, IP addresses and the SPIFFE URI. Signing with the private key is the proof of
 * possession the approver checks (for EC keys computed with BouncyCastle's arithmetic, see
 * {@link EcKeys}). Usages are not requested in the CSR: Kubernetes carries them in
 * {@code spec.usages}.
 */
public final class Pkcs10 {

  /** The ECDSA nonces' randomness (a SecureRandom is safe for concurrent use). */
  private static final SecureRandom NONCES = new SecureRandom();

  private Pkcs10() {}

  /** The DER-encoded CSR, signed with {@code keyPair}'s private key. */
  public static byte[] create(WorkloadIdentity identity, KeyPair keyPair, KeyAlgorithm algorithm) {
    Objects.requireNonNull(identity, "identity");
    Objects.requireNonNull(keyPair, "keyPair");
    Objects.requireNonNull(algorithm, "algorithm");
    try {
      var subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, identity.username()).build();
      ExtensionsGenerator extensions = new ExtensionsGenerator();
      extensions.addExtension(Extension.subjectAlternativeName, false, subjectAltNames(identity));
      PKCS10CertificationRequest csr = new JcaPKCS10CertificationRequestBuilder(subject, keyPair.getPublic())
          .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate())
          .build(EcKeys.supports(algorithm) ? EcKeys.signer(algorithm, keyPair.getPrivate(), NONCES)
              : new JcaContentSignerBuilder(algorithm.signatureAlgorithm()).build(keyPair.getPrivate()));
      return csr.getEncoded();
    } catch (IOException e) {
      throw new UncheckedIOException("could not encode the certificate request", e);
    } catch (OperatorCreationException e) {
      throw new IllegalStateException("cannot sign with " + algorithm.signatureAlgorithm(), e);
    }
  }

  /** The CSR as PEM text ({@code CERTIFICATE REQUEST}), as {@code spec.request} carries it. */
  public static String toPem(byte[] der) {
    return Pem.encode("CERTIFICATE REQUEST", der);
  }

  private static GeneralNames subjectAltNames(WorkloadIdentity identity) {
    List<GeneralName> names = new ArrayList<>();
    for (String dns : identity.dnsNames()) {
      names.add(new GeneralName(GeneralName.dNSName, dns));
    }
    for (InetAddress ip : identity.ipAddresses()) {
      names.add(new GeneralName(GeneralName.iPAddress, new DEROctetString(ip.getAddress())));
    }
    names.add(new GeneralName(GeneralName.uniformResourceIdentifier, identity.spiffeId().toString()));
    return new GeneralNames(names.toArray(GeneralName[]::new));
  }
}
