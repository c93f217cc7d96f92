package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import java.io.IOException;
import java.net.InetAddress;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequestBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/** Builds real PKCS#10 requests for tests, including ones a hostile requester would send. */
public final class TestCsr {

  private String subject = "";
  private final List<GeneralName> names = new ArrayList<>();
  private boolean ca;
  private KeyPair keyPair;
  private KeyPair signingKey;
  private String signatureAlgorithm;
  private org.bouncycastle.asn1.x509.SubjectPublicKeyInfo spki;
  private final java.util.Map<org.bouncycastle.asn1.ASN1ObjectIdentifier, org.bouncycastle.asn1.ASN1Encodable>
      extraExtensions = new java.util.LinkedHashMap<>();

  public static TestCsr builder() {
    return new TestCsr();
  }

  public static KeyPair ecKey() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static KeyPair rsaKey() {
    return rsaKey(2048);
  }

  public static KeyPair rsaKey(int bits) {
    try {
      // The JDK's own generator: with ACCP registered first (as SignerMain does) "RSA" would be ACCP's,
      // which rounds an odd size such as 2047 up to 2048 and so would not make the key a test asks for.
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA", "SunRsaSign");
      g.initialize(bits);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An EC key on the named curve, e.g. {@code secp384r1}, {@code secp521r1}. */
  public static KeyPair ecKey(String curve) {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec(curve));
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public static KeyPair ed25519Key() {
    try {
      return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public TestCsr subject(String dn) {
    this.subject = dn;
    return this;
  }

  public TestCsr dns(String... dns) {
    for (String d : dns) {
      names.add(new GeneralName(GeneralName.dNSName, d));
    }
    return this;
  }

  public TestCsr ip(String... ips) {
    try {
      for (String ip : ips) {
        names.add(new GeneralName(GeneralName.iPAddress,
            new org.bouncycastle.asn1.DEROctetString(InetAddress.getByName(ip).getAddress())));
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
    return this;
  }

  /** An IP SAN in the 16-byte IPv4-mapped IPv6 form {@code ::ffff:<ipv4>}. */
  public TestCsr mappedIp(String ipv4) {
    try {
      byte[] v4 = InetAddress.getByName(ipv4).getAddress();
      byte[] v6 = new byte[16];
      v6[10] = (byte) 0xff;
      v6[11] = (byte) 0xff;
      System.arraycopy(v4, 0, v6, 12, 4);
      names.add(new GeneralName(GeneralName.iPAddress, new org.bouncycastle.asn1.DEROctetString(v6)));
    } catch (IOException e) {
      throw new IllegalArgumentException(e);
    }
    return this;
  }

  /** Signs with this JCA algorithm (e.g. {@code SHA1withRSA}) instead of the key's SHA-256 default. */
  public TestCsr signatureAlgorithm(String algorithm) {
    this.signatureAlgorithm = algorithm;
    return this;
  }

  public TestCsr uri(String... uris) {
    for (String u : uris) {
      names.add(new GeneralName(GeneralName.uniformResourceIdentifier, u));
    }
    return this;
  }

  public TestCsr email(String email) {
    names.add(new GeneralName(GeneralName.rfc822Name, email));
    return this;
  }

  public TestCsr ca() {
    this.ca = true;
    return this;
  }

  /**
   * Puts this encoded key in the request instead of the signing key's public key (e.g. an RSA modulus
   * of 16384 bits that nobody generated): the signature then proves nothing, which is fine for tests
   * of what happens before it is checked.
   */
  public TestCsr spki(org.bouncycastle.asn1.x509.SubjectPublicKeyInfo spki) {
    this.spki = spki;
    return this;
  }

  /** Adds an extension of any content to the extension request. */
  public TestCsr extension(org.bouncycastle.asn1.ASN1ObjectIdentifier oid, org.bouncycastle.asn1.ASN1Encodable value) {
    this.extraExtensions.put(oid, value);
    return this;
  }

  /** An RSA public key of {@code bits} bits, as encoded: an odd random modulus, never a real key. */
  public static org.bouncycastle.asn1.x509.SubjectPublicKeyInfo rsaSpki(int bits) {
    java.math.BigInteger modulus = new java.math.BigInteger(bits, new java.util.Random(bits)).setBit(bits - 1).setBit(0);
    try {
      return new org.bouncycastle.asn1.x509.SubjectPublicKeyInfo(new org.bouncycastle.asn1.x509.AlgorithmIdentifier(
          PKCSObjectIdentifiers.rsaEncryption, org.bouncycastle.asn1.DERNull.INSTANCE),
          new org.bouncycastle.asn1.pkcs.RSAPublicKey(modulus, java.math.BigInteger.valueOf(65537)));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  public TestCsr key(KeyPair kp) {
    this.keyPair = kp;
    return this;
  }

  /** Signs the request with another key than the one it carries: no proof of possession. */
  public TestCsr signedBy(KeyPair other) {
    this.signingKey = other;
    return this;
  }

  public String pem() {
    KeyPair kp = keyPair != null ? keyPair : ecKey();
    KeyPair signer = signingKey != null ? signingKey : kp;
    try {
      PKCS10CertificationRequestBuilder b = spki != null
          ? new PKCS10CertificationRequestBuilder(new X500Name(subject), spki)
          : new JcaPKCS10CertificationRequestBuilder(new X500Name(subject), kp.getPublic());
      ExtensionsGenerator ext = new ExtensionsGenerator();
      if (!names.isEmpty()) {
        ext.addExtension(Extension.subjectAlternativeName, false,
            new GeneralNames(names.toArray(GeneralName[]::new)));
      }
      if (ca) {
        ext.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
      }
      for (var e : extraExtensions.entrySet()) {
        ext.addExtension(e.getKey(), false, e.getValue());
      }
      if (!ext.isEmpty()) {
        b.addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate());
      }
      String keyAlg = signer.getPrivate().getAlgorithm();
      String alg = signatureAlgorithm != null ? signatureAlgorithm
          : keyAlg.equals("RSA") ? "SHA256withRSA" : keyAlg.startsWith("Ed") ? "Ed25519" : "SHA256withECDSA";
      ContentSigner cs = new JcaContentSignerBuilder(alg).build(signer.getPrivate());
      return Pem.encode("CERTIFICATE REQUEST", b.build(cs).getEncoded());
    } catch (IOException | OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }
}
