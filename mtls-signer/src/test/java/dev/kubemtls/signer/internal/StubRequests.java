package dev.kubemtls.signer.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Base64;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Stub PKCS#10 requests for the tests: made here with BouncyCastle (empty subject, no attributes,
 * as the kubelet makes them), or read from the seeds that Go's {@code x509.CreateCertificateRequest}
 * made as the kubelet of 1.36+ does ({@code PodCertificateKeysTest/kubelet-*.der}; the 1.35 form
 * beside them: {@code pkix-*.der} and the proof of possession over {@link #POD_UID} in
 * {@code pkix-*.proof}).
 */
final class StubRequests {

  /** The Pod UID the Go-made proofs of possession sign. */
  static final String POD_UID = "0b7c5d1e-1111-4222-8333-944455556666";

  private StubRequests() {}

  static KeyPair ec(String curve) {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec(curve));
      return g.generateKeyPair();
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  static KeyPair rsa(int bits) {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
      g.initialize(bits);
      return g.generateKeyPair();
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  static KeyPair ed25519() {
    try {
      return KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The DER of a stub request for {@code keys.getPublic()}, signed by {@code signer} with {@code algorithm}. */
  static byte[] der(KeyPair keys, java.security.PrivateKey signer, String algorithm) {
    try {
      return new JcaPKCS10CertificationRequestBuilder(new X500Name(new org.bouncycastle.asn1.x500.RDN[0]),
          keys.getPublic()).build(new JcaContentSignerBuilder(algorithm).build(signer)).getEncoded();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (org.bouncycastle.operator.OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A correctly signed stub request for {@code keys}, with the algorithm Go picks for the key. */
  static byte[] der(KeyPair keys) {
    return der(keys, keys.getPrivate(), algorithmFor(keys));
  }

  static String algorithmFor(KeyPair keys) {
    return switch (keys.getPublic().getAlgorithm()) {
      case "EC" -> ((java.security.interfaces.ECPublicKey) keys.getPublic()).getParams().getCurve().getField()
          .getFieldSize() > 256 ? "SHA384withECDSA" : "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      default -> "Ed25519";
    };
  }

  static String base64(byte[] der) {
    return Base64.getEncoder().encodeToString(der);
  }

  /** A seed file of {@code PodCertificateKeysTest}. */
  static byte[] seed(String name) {
    try (InputStream in = StubRequests.class.getResourceAsStream("PodCertificateKeysTest/" + name)) {
      if (in == null) {
        throw new IllegalArgumentException("no seed " + name);
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code depth} SEQUENCEs, each holding the next, the innermost empty: DER with long-form lengths. */
  static byte[] nested(int depth) {
    byte[] inner = new byte[] {0x30, 0x00};
    for (int i = 1; i < depth; i++) {
      inner = wrap(0x30, inner);
    }
    return inner;
  }

  /** {@code contents} in a DER element of {@code tag}. */
  static byte[] wrap(int tag, byte[] contents) {
    int n = contents.length;
    byte[] header;
    if (n < 0x80) {
      header = new byte[] {(byte) tag, (byte) n};
    } else if (n < 0x100) {
      header = new byte[] {(byte) tag, (byte) 0x81, (byte) n};
    } else {
      header = new byte[] {(byte) tag, (byte) 0x82, (byte) (n >> 8), (byte) n};
    }
    byte[] out = new byte[header.length + n];
    System.arraycopy(header, 0, out, 0, header.length);
    System.arraycopy(contents, 0, out, header.length, n);
    return out;
  }
}
