package dev.kubemtls.testkit;

import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A small certificate authority for tests: EC P-256 keys, certificates with the SANs, usages and
 * validity a test asks for. Independent of the production signer on purpose, so tests of the
 * integrations do not depend on the code that the signer tests check.
 */
public final class TestCa {

  private static final SecureRandom RANDOM = new SecureRandom();

  private final KeyPair keyPair;
  private final X509Certificate certificate;

  private TestCa(KeyPair keyPair, X509Certificate certificate) {
    this.keyPair = keyPair;
    this.certificate = certificate;
  }

  /** A self-signed CA valid from an hour ago for ten years. */
  public static TestCa create(String commonName) {
    return create(commonName, Instant.now().minus(Duration.ofHours(1)), Duration.ofDays(3650));
  }

  /** A self-signed CA valid from {@code notBefore} for {@code validity}. */
  public static TestCa create(String commonName, Instant notBefore, Duration validity) {
    KeyPair kp = newKeyPair();
    try {
      X500Name name = new X500Name("CN=" + commonName);
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name, serial(),
          Date.from(notBefore), Date.from(notBefore.plus(validity)), name, kp.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
      return new TestCa(kp, sign(b, kp));
    } catch (GeneralSecurityException | java.io.IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A fresh EC P-256 key pair. */
  public static KeyPair newKeyPair() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  public X509Certificate certificate() {
    return certificate;
  }

  public KeyPair keyPair() {
    return keyPair;
  }

  /** The CA certificate as PEM. */
  public String certificatePem() {
    return toPem(certificate);
  }

  /** Starts a leaf certificate for {@code publicKey}; valid from a minute ago for an hour by default. */
  public LeafBuilder leaf(PublicKey publicKey) {
    return new LeafBuilder(publicKey);
  }

  /**
   * PEM text of any object BouncyCastle can write (certificates, public keys, CSRs); private keys
   * are written as unencrypted PKCS#8 ({@code PRIVATE KEY}), the form every consumer reads.
   */
  public static String toPem(Object object) {
    if (object instanceof java.security.PrivateKey key) {
      return "-----BEGIN PRIVATE KEY-----\n"
          + java.util.Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(key.getEncoded())
          + "\n-----END PRIVATE KEY-----\n";
    }
    StringWriter out = new StringWriter();
    try (JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(object);
    } catch (java.io.IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  private static BigInteger serial() {
    return new BigInteger(127, RANDOM).add(BigInteger.ONE);
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, KeyPair signer) {
    try {
      return new JcaX509CertificateConverter()
          .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate())));
    } catch (OperatorCreationException | GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Options of one leaf certificate. */
  public final class LeafBuilder {
    private final PublicKey publicKey;
    private String commonName = "test";
    private final List<GeneralName> sans = new ArrayList<>();
    private Instant notBefore = Instant.now().minus(Duration.ofMinutes(1));
    private Duration validity = Duration.ofHours(1);
    private boolean server = true;
    private boolean client = true;

    private LeafBuilder(PublicKey publicKey) {
      this.publicKey = Objects.requireNonNull(publicKey);
    }

    public LeafBuilder commonName(String cn) {
      this.commonName = cn;
      return this;
    }

    public LeafBuilder dns(String... names) {
      for (String n : names) {
        sans.add(new GeneralName(GeneralName.dNSName, n));
      }
      return this;
    }

    public LeafBuilder ip(String... addresses) {
      for (String a : addresses) {
        sans.add(new GeneralName(GeneralName.iPAddress, a));
      }
      return this;
    }

    public LeafBuilder uri(String uri) {
      sans.add(new GeneralName(GeneralName.uniformResourceIdentifier, uri));
      return this;
    }

    /** The SPIFFE ID of {@code namespace/serviceAccount} in trust domain {@code cluster.local}. */
    public LeafBuilder spiffe(String namespace, String serviceAccount) {
      return uri("spiffe://cluster.local/ns/" + namespace + "/sa/" + serviceAccount);
    }

    public LeafBuilder validity(Instant notBefore, Duration validity) {
      this.notBefore = notBefore;
      this.validity = validity;
      return this;
    }

    /** Which extended key usages to include; both by default. */
    public LeafBuilder usages(boolean server, boolean client) {
      this.server = server;
      this.client = client;
      return this;
    }

    public X509Certificate build() {
      try {
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(certificate, serial(),
            Date.from(notBefore), Date.from(notBefore.plus(validity)),
            new X500Name("CN=" + commonName), publicKey)
            .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
            .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
            .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(publicKey))
            .addExtension(Extension.authorityKeyIdentifier, false,
                ext.createAuthorityKeyIdentifier(certificate));
        List<KeyPurposeId> ekus = new ArrayList<>();
        if (server) {
          ekus.add(KeyPurposeId.id_kp_serverAuth);
        }
        if (client) {
          ekus.add(KeyPurposeId.id_kp_clientAuth);
        }
        if (!ekus.isEmpty()) {
          b.addExtension(Extension.extendedKeyUsage, false,
              new ExtendedKeyUsage(ekus.toArray(KeyPurposeId[]::new)));
        }
        if (!sans.isEmpty()) {
          b.addExtension(Extension.subjectAlternativeName, false,
              new GeneralNames(sans.toArray(GeneralName[]::new)));
        }
        return sign(b, keyPair);
      } catch (GeneralSecurityException | java.io.IOException e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
