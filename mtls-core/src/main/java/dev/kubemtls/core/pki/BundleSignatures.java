package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1InputStream;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.DERSet;
import org.bouncycastle.asn1.cms.Attribute;
import org.bouncycastle.asn1.cms.AttributeTable;
import org.bouncycastle.asn1.cms.CMSAttributes;
import org.bouncycastle.asn1.cms.ContentInfo;
import org.bouncycastle.asn1.cms.Time;
import org.bouncycastle.asn1.nist.NISTObjectIdentifiers;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cms.CMSException;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.DefaultSignedAttributeTableGenerator;
import org.bouncycastle.cms.SignerInformation;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

/**
 * The signature that lets a workload tell a CA bundle the signer published from one that anyone
 * who may write ConfigMaps in its namespace put there.
 *
 * <p>The model: a bundle ConfigMap is writable by namespace editors, CI and GitOps accounts, so its
 * content proves nothing. The signer holds the private key of every CA it signs with (during a
 * rotation, the current and the next). With each bundle it publishes a detached CMS
 * {@code SignedData} (RFC 5652) over the exact bytes of the PEM text, one {@code SignerInfo} per
 * CA key it holds, each with a {@code signingTime}, stored base64 under the bundle's key plus
 * {@value #KEY_SUFFIX} (e.g. {@code ca.crt.sig}). The CMS carries no certificates: a workload
 * matches each {@code SignerInfo} against CAs it already trusts, never against anything the
 * ConfigMap offers. A workload accepts a changed bundle only when a CA it already trusts, or a CA
 * whose key it has seen sign its own certificate (which came through a channel only the signer can
 * write), signed exactly this text, no earlier than the bundle it holds. A rotation still flows: the
 * signer publishes {@code old + new} signed by both keys, which every workload trusting the old CA
 * accepts, and later {@code new} alone, signed by the new key those workloads now trust.
 *
 * <p>Limits on what is parsed: the base64 text at most {@value #MAX_SIGNATURE_CHARS} characters,
 * DER nesting at most {@value #MAX_DEPTH} levels (checked before BouncyCastle parses it), digests
 * SHA-256, SHA-384 or SHA-512 only, at most {@value #MAX_SIGNERS} signer infos.
 */
public final class BundleSignatures {

  /** Appended to the bundle's data key to name the signature's key: {@code ca.crt} → {@code ca.crt.sig}. */
  public static final String KEY_SUFFIX = ".sig";
  /** The longest signature text read. */
  public static final int MAX_SIGNATURE_CHARS = 64 * 1024;
  /** The deepest DER nesting read. */
  public static final int MAX_DEPTH = 24;
  /** The most signer infos read. */
  public static final int MAX_SIGNERS = 8;

  private static final Set<String> DIGESTS = Set.of(NISTObjectIdentifiers.id_sha256.getId(),
      NISTObjectIdentifiers.id_sha384.getId(), NISTObjectIdentifiers.id_sha512.getId());

  /** A CA certificate and its private key, which signs the bundle. */
  public record Signer(X509Certificate certificate, PrivateKey key) {
    public Signer {
      Objects.requireNonNull(certificate, "certificate");
      Objects.requireNonNull(key, "key");
    }
  }

  /** A signature that verified: which trusted CA made it, and when it says it did. */
  public record Verified(X509Certificate by, Instant signingTime) {
    public Verified {
      Objects.requireNonNull(by, "by");
      Objects.requireNonNull(signingTime, "signingTime");
    }
  }

  private BundleSignatures() {}

  /** The data key of the signature of the bundle under {@code bundleKey}. */
  public static String signatureKey(String bundleKey) {
    return Objects.requireNonNull(bundleKey, "bundleKey") + KEY_SUFFIX;
  }

  /**
   * Signs {@code bundlePem} with every one of {@code signers} (SHA-256; ECDSA or RSA by the key).
   *
   * @return the base64 of the DER CMS {@code SignedData}, detached
   * @throws IllegalArgumentException if there is no signer or a key cannot sign
   */
  public static String sign(String bundlePem, List<Signer> signers, Instant signingTime) {
    Objects.requireNonNull(bundlePem, "bundlePem");
    Objects.requireNonNull(signingTime, "signingTime");
    if (Objects.requireNonNull(signers, "signers").isEmpty()) {
      throw new IllegalArgumentException("a bundle signature needs at least one CA key");
    }
    try {
      CMSSignedDataGenerator generator = new CMSSignedDataGenerator();
      ASN1EncodableVector attributes = new ASN1EncodableVector();
      attributes.add(new Attribute(CMSAttributes.signingTime, new DERSet(new Time(Date.from(signingTime)))));
      AttributeTable table = new AttributeTable(attributes);
      for (Signer signer : signers) {
        String algorithm = "SHA256with" + ("RSA".equals(signer.key().getAlgorithm()) ? "RSA" : "ECDSA");
        generator.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(new JcaDigestCalculatorProviderBuilder()
            .build()).setSignedAttributeGenerator(new DefaultSignedAttributeTableGenerator(table))
            .build(new JcaContentSignerBuilder(algorithm).build(signer.key()), signer.certificate()));
      }
      CMSSignedData signed = generator.generate(new CMSProcessableByteArray(bytes(bundlePem)), false);
      return Base64.getEncoder().encodeToString(signed.getEncoded());
    } catch (OperatorCreationException | CMSException | IOException | java.security.cert.CertificateEncodingException e) {
      throw new IllegalArgumentException("cannot sign the CA bundle: " + e.getMessage(), e);
    }
  }

  /**
   * Finds a signature over exactly {@code bundlePem} made by the key of one of {@code trusted}.
   *
   * @param what      names the source in messages, e.g. {@code "ConfigMap ns/name key ca.crt.sig"}
   * @param signature the base64 text, or null when the source has none
   * @param trusted   the CAs whose signatures count
   * @return the first verified signature (its signer, its signing time)
   * @throws InvalidMaterialException saying what is missing, malformed or signed by no trusted CA
   */
  public static Verified verify(String bundlePem, String signature, Collection<X509Certificate> trusted,
      String what) {
    Objects.requireNonNull(bundlePem, "bundlePem");
    Objects.requireNonNull(trusted, "trusted");
    Objects.requireNonNull(what, "what");
    if (signature == null || signature.isBlank()) {
      throw new InvalidMaterialException(what + " is missing: the bundle is not signed, so nothing shows that the"
          + " signer wrote it (a kube-mtls signer signs every bundle it publishes)");
    }
    if (signature.length() > MAX_SIGNATURE_CHARS) {
      throw new InvalidMaterialException(what + " is " + signature.length() + " characters long, more than the "
          + MAX_SIGNATURE_CHARS + " a bundle signature may have");
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(signature.strip());
    } catch (IllegalArgumentException e) {
      throw new InvalidMaterialException(what + " is not base64: " + e.getMessage());
    }
    CMSSignedData signed;
    try {
      DerLimits.of(Integer.MAX_VALUE, MAX_DEPTH).problem(der).ifPresent(wrong -> {
        throw new IllegalArgumentException(wrong);
      });
      ASN1Primitive primitive;
      try (ASN1InputStream in = new ASN1InputStream(new ByteArrayInputStream(der), der.length)) {
        primitive = in.readObject();
        if (primitive == null || in.readObject() != null) {
          throw new IllegalArgumentException("not exactly one DER object");
        }
      }
      signed = new CMSSignedData(new CMSProcessableByteArray(bytes(bundlePem)), ContentInfo.getInstance(primitive));
    } catch (IOException | CMSException | RuntimeException e) {
      throw new InvalidMaterialException(what + " is not a CMS SignedData: " + e.getMessage());
    }
    Collection<SignerInformation> infos = signed.getSignerInfos().getSigners();
    if (infos.size() > MAX_SIGNERS) {
      throw new InvalidMaterialException(what + " has " + infos.size() + " signers, more than " + MAX_SIGNERS);
    }
    List<String> named = new ArrayList<>();
    for (SignerInformation info : infos) {
      if (!DIGESTS.contains(info.getDigestAlgOID())) {
        named.add("a signer with digest " + info.getDigestAlgOID() + " (only SHA-2 counts)");
        continue;
      }
      for (X509Certificate ca : trusted) {
        JcaX509CertificateHolder holder;
        try {
          holder = new JcaX509CertificateHolder(ca);
        } catch (java.security.cert.CertificateEncodingException e) {
          continue;
        }
        if (!info.getSID().match(holder)) {
          continue;
        }
        Instant signingTime = signingTime(info);
        if (signingTime == null) {
          named.add(ca.getSubjectX500Principal().getName() + " without a signingTime");
          continue;
        }
        try {
          if (info.verify(new JcaSimpleSignerInfoVerifierBuilder().build(ca.getPublicKey()))) {
            return new Verified(ca, signingTime);
          }
        } catch (OperatorCreationException | CMSException | RuntimeException e) {
          // Falls through: named below.
        }
        named.add("a signature in the name of " + ca.getSubjectX500Principal().getName() + " that does not verify"
            + " over this bundle");
      }
    }
    throw new InvalidMaterialException(what + " holds no valid signature by a CA this workload already trusts ("
        + trusted.size() + " trusted CA(s)" + (named.isEmpty() ? "" : "; found " + String.join(", ", named))
        + "): the bundle was not published by the signer, or was changed after");
  }

  /** Whether {@code key} verifies the signature of {@code certificate}: that key's holder issued it. */
  public static boolean issued(PublicKey key, X509Certificate certificate) {
    try {
      certificate.verify(key);
      return true;
    } catch (java.security.GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  private static Instant signingTime(SignerInformation info) {
    AttributeTable signedAttributes = info.getSignedAttributes();
    if (signedAttributes == null) {
      return null;
    }
    Attribute attribute = signedAttributes.get(CMSAttributes.signingTime);
    if (attribute == null || attribute.getAttrValues().size() != 1) {
      return null;
    }
    ASN1Encodable value = attribute.getAttrValues().getObjectAt(0);
    try {
      return Time.getInstance(value).getDate().toInstant();
    } catch (RuntimeException e) {
      return null;
    }
  }

  private static byte[] bytes(String pem) {
    return pem.getBytes(StandardCharsets.UTF_8);
  }

}
