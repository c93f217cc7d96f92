package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/**
 * Strict reading and writing of PEM text (RFC 7468) from sources kube-mtls does not control: CSR
 * status fields, ConfigMaps, Secrets.
 *
 * <p>Every reader treats its input as hostile: it bounds the size, insists on the expected block
 * type, rejects bad base64 and text outside blocks that looks like a broken block, and reports what
 * was wrong in words a user can act on. {@code what} names the input in those messages, e.g.
 * {@code "ConfigMap kube-mtls/ca-bundle key ca.crt"}.
 */
public final class Pem {

  /** The largest PEM input accepted: far above any real bundle, far below a memory problem. */
  public static final int MAX_PEM_CHARS = 1 << 20;

  /** The most certificates a single bundle or chain may hold. */
  public static final int MAX_CERTIFICATES = 100;

  /** Size and nesting limits for each certificate and key block, checked before a parser sees it. */
  private static final DerLimits CERTIFICATE_LIMITS = DerLimits.certificate();
  private static final Pattern BLOCK = Pattern.compile(
      "-----BEGIN ([A-Z0-9 ]{1,64})-----\\r?\\n?(.*?)-----END ([A-Z0-9 ]{1,64})-----", Pattern.DOTALL);
  private static final Pattern END_LINE = Pattern.compile("-----END [A-Z0-9 ]{1,64}-----");

  private Pem() {}

  /** One PEM block: its type label and the DER bytes it carries. */
  public record Block(String type, byte[] der) {
    public Block {
      Objects.requireNonNull(type, "type");
      der = der.clone();
    }

    @Override
    public byte[] der() {
      return der.clone();
    }
  }

  /**
   * Splits PEM text into blocks.
   *
   * @throws InvalidMaterialException if the text is empty, too large, has no block, a block whose
   *     END does not match its BEGIN, bad base64, or a stray BEGIN/END line
   */
  public static List<Block> blocks(String pem, String what) {
    Objects.requireNonNull(what, "what");
    if (pem == null || pem.isBlank()) {
      throw new InvalidMaterialException(what + " is empty: expected PEM text");
    }
    if (pem.length() > MAX_PEM_CHARS) {
      throw new InvalidMaterialException(what + " is " + pem.length() + " characters long, more than the "
          + MAX_PEM_CHARS + " accepted for PEM text");
    }
    List<Block> blocks = new ArrayList<>();
    Matcher m = BLOCK.matcher(pem);
    // No block ends after the last END line. Without this bound every BEGIN after it starts a match
    // attempt that scans to the end of the text: quadratic, minutes for a 64 KiB input.
    m.region(0, endOfLastEndLine(pem));
    int end = 0;
    while (m.find()) {
      checkOutside(pem.substring(end, m.start()), what);
      String type = m.group(1);
      if (!type.equals(m.group(3))) {
        throw new InvalidMaterialException(what + ": a PEM block begins as '" + type + "' but ends as '"
            + m.group(3) + "'");
      }
      byte[] der;
      try {
        der = Base64.getMimeDecoder().decode(strictBase64(m.group(2), what, type));
      } catch (IllegalArgumentException e) {
        throw new InvalidMaterialException(what + ": the " + type + " block is not valid base64 ("
            + e.getMessage() + ")", e);
      }
      if (der.length == 0) {
        throw new InvalidMaterialException(what + ": the " + type + " block is empty");
      }
      blocks.add(new Block(type, der));
      end = m.end();
    }
    checkOutside(pem.substring(end), what);
    if (blocks.isEmpty()) {
      throw new InvalidMaterialException(what + " holds no PEM block: expected text such as"
          + " '-----BEGIN CERTIFICATE-----'");
    }
    return blocks;
  }

  /**
   * Reads one or more X.509 certificates.
   *
   * @throws InvalidMaterialException if any block is not a CERTIFICATE, or does not parse
   */
  public static List<X509Certificate> certificates(String pem, String what) {
    List<Block> blocks = blocks(pem, what);
    if (blocks.size() > MAX_CERTIFICATES) {
      throw new InvalidMaterialException(what + " holds " + blocks.size() + " PEM blocks, more than the "
          + MAX_CERTIFICATES + " certificates accepted");
    }
    List<X509Certificate> out = new ArrayList<>(blocks.size());
    CertificateFactory factory = x509Factory();
    for (int i = 0; i < blocks.size(); i++) {
      Block b = blocks.get(i);
      if (!b.type().equals("CERTIFICATE")) {
        throw new InvalidMaterialException(what + ": block " + (i + 1) + " is a '" + b.type()
            + "', expected only CERTIFICATE blocks");
      }
      CERTIFICATE_LIMITS.check(b.der, what + ": certificate " + (i + 1));
      try {
        Certificate c = factory.generateCertificate(new ByteArrayInputStream(b.der));
        if (!(c instanceof X509Certificate x509)) {
          throw new InvalidMaterialException(what + ": block " + (i + 1) + " is not an X.509 certificate");
        }
        out.add(x509);
      } catch (CertificateException e) {
        throw new InvalidMaterialException(what + ": certificate " + (i + 1) + " does not parse ("
            + e.getMessage() + ")", e);
      }
    }
    return List.copyOf(out);
  }

  /**
   * Reads a private key: PKCS#8 ({@code PRIVATE KEY}), SEC1 ({@code EC PRIVATE KEY}) or PKCS#1
   * ({@code RSA PRIVATE KEY}). Encrypted keys are refused. The key material never appears in a
   * message.
   */
  public static PrivateKey privateKey(String pem, String what) {
    List<Block> blocks = blocks(pem, what);
    List<Block> keys = blocks.stream().filter(b -> b.type().endsWith("PRIVATE KEY")).toList();
    if (keys.size() != 1) {
      throw new InvalidMaterialException(what + " must hold exactly one private key block, found " + keys.size());
    }
    Block key = keys.get(0);
    CERTIFICATE_LIMITS.check(key.der, what + ": the " + key.type() + " block");
    try {
      switch (key.type()) {
        case "PRIVATE KEY" -> {
          PrivateKeyInfo info = PrivateKeyInfo.getInstance(key.der);
          String alg = algorithmOf(info);
          return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(key.der));
        }
        case "EC PRIVATE KEY", "RSA PRIVATE KEY" -> {
          String text = "-----BEGIN " + key.type() + "-----\n"
              + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(key.der)
              + "\n-----END " + key.type() + "-----\n";
          try (PEMParser parser = new PEMParser(new java.io.StringReader(text))) {
            Object o = parser.readObject();
            if (o instanceof PEMKeyPair pair) {
              return new JcaPEMKeyConverter().getPrivateKey(pair.getPrivateKeyInfo());
            }
            throw new InvalidMaterialException(what + ": the " + key.type() + " block does not parse");
          }
        }
        case "ENCRYPTED PRIVATE KEY" -> throw new InvalidMaterialException(
            what + " holds an encrypted private key; kube-mtls needs it unencrypted (a Secret protects it)");
        default -> throw new InvalidMaterialException(what + ": unsupported key block type '" + key.type() + "'");
      }
    } catch (InvalidMaterialException e) {
      throw e;
    } catch (GeneralSecurityException | java.io.IOException | RuntimeException e) {
      // Never include the cause's message: parsers may echo key bytes.
      throw new InvalidMaterialException(what + ": the " + key.type() + " block does not parse as a private key ("
          + e.getClass().getSimpleName() + ")");
    }
  }

  /** PEM text of certificates, in order. */
  public static String encodeCertificates(List<X509Certificate> certificates) {
    StringBuilder sb = new StringBuilder();
    for (X509Certificate c : certificates) {
      try {
        sb.append(encode("CERTIFICATE", c.getEncoded()));
      } catch (java.security.cert.CertificateEncodingException e) {
        throw new IllegalArgumentException("certificate cannot be encoded", e);
      }
    }
    return sb.toString();
  }

  /** One PEM block with 64-character lines. */
  public static String encode(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }

  private static String algorithmOf(PrivateKeyInfo info) {
    String oid = info.getPrivateKeyAlgorithm().getAlgorithm().getId();
    return switch (oid) {
      case "1.2.840.10045.2.1" -> "EC";
      case "1.2.840.113549.1.1.1" -> "RSA";
      case "1.3.101.112" -> "Ed25519";
      default -> throw new IllegalArgumentException("unsupported key algorithm " + oid);
    };
  }

  private static String strictBase64(String body, String what, String type) {
    StringBuilder sb = new StringBuilder(body.length());
    for (int i = 0; i < body.length(); i++) {
      char c = body.charAt(i);
      if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
        continue;
      }
      boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
          || c == '+' || c == '/' || c == '=';
      if (!ok) {
        throw new InvalidMaterialException(what + ": the " + type + " block holds '" + (c < 32 || c > 126 ? "\\u"
            + String.format("%04x", (int) c) : String.valueOf(c)) + "', which is not base64 (headers such as"
            + " Proc-Type are not supported)");
      }
      sb.append(c);
    }
    if (sb.length() % 4 != 0) {
      throw new InvalidMaterialException(what + ": the " + type + " block is truncated (its base64 length "
          + sb.length() + " is not a multiple of 4)");
    }
    return sb.toString();
  }

  private static int endOfLastEndLine(String pem) {
    Matcher m = END_LINE.matcher(pem);
    int last = 0;
    while (m.find()) {
      last = m.end();
    }
    return last;
  }

  private static void checkOutside(String text, String what) {
    if (text.contains("-----BEGIN") || text.contains("-----END")) {
      throw new InvalidMaterialException(what + " holds a broken PEM block (a BEGIN without its END,"
          + " or the reverse): is the text truncated?");
    }
  }

  private static CertificateFactory x509Factory() {
    try {
      return CertificateFactory.getInstance("X.509");
    } catch (CertificateException e) {
      throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
    }
  }
}
