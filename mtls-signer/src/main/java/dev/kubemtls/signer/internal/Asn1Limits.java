package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;

/**
 * Size and depth limits for DER taken from outside the signer (CSRs, stub PKCS#10 requests of
 * PodCertificateRequests, certificates of the CA Secret), checked by a small iterative-enough scanner
 * before BouncyCastle or the JDK builds an object tree: their parsers recurse once per nesting level
 * and accept any definite length, so a request of a few hundred kilobytes of nested SEQUENCE headers
 * could otherwise end a worker with a {@link StackOverflowError}, and a huge one costs memory before
 * anything is decided.
 *
 * <p>The scanner walks tag-length-value headers only: it refuses the indefinite length (never DER),
 * lengths beyond the enclosing structure, tags of more than four bytes, trailing bytes, more than
 * {@code maxBytes} in all and nesting deeper than {@code maxDepth}. The contents of OCTET STRINGs and
 * BIT STRINGs (where X.509 and PKCS#10 wrap extension values and keys) are scanned as well when they
 * hold DER, so nesting hidden inside an extension counts too; contents that are not DER are opaque
 * bytes. Work is linear in the input times the depth limit.
 */
public final class Asn1Limits {

  /**
   * The deepest nesting accepted. A certificate or request made by any ordinary tool nests about a
   * dozen levels (request, info, attributes, attribute, set, extensions, extension, value, names,
   * name, ...); 32 leaves room without letting a parser recurse thousands of times.
   */
  public static final int MAX_DEPTH = 32;
  /**
   * The most DER bytes of one CSR. 256 SANs of 253 characters fit (about 66 KB), and so do a few
   * thousand ordinary names, so a request over the name cap is still read and denied with
   * {@code TooManyNames} rather than as malformed.
   */
  public static final int MAX_REQUEST_BYTES = 256 * 1024;
  /** The most DER bytes of one certificate read from outside (the CA Secret, a bundle). */
  public static final int MAX_CERTIFICATE_BYTES = 64 * 1024;

  private Asn1Limits() {}

  /**
   * Checks one DER structure.
   *
   * @param what names the input in the message, e.g. {@code spec.request}
   * @throws InvalidMaterialException naming the limit or the malformation
   */
  public static void check(byte[] der, int maxBytes, int maxDepth, String what) {
    if (der.length > maxBytes) {
      throw new InvalidMaterialException(what + " holds " + der.length + " bytes of DER; at most " + maxBytes
          + " are read");
    }
    if (der.length == 0) {
      throw new InvalidMaterialException(what + " is empty");
    }
    try {
      int end = element(der, 0, der.length, 1, maxDepth);
      if (end != der.length) {
        throw new Malformed("trailing bytes after the outer structure");
      }
    } catch (TooDeep e) {
      throw new InvalidMaterialException(what + " nests ASN.1 structures more than " + maxDepth + " levels deep");
    } catch (Malformed e) {
      throw new InvalidMaterialException(what + " is not DER (" + e.getMessage() + ")");
    }
  }

  /** Scans the element at {@code off} and returns the offset after it. */
  private static int element(byte[] b, int off, int end, int depth, int maxDepth) {
    if (depth > maxDepth) {
      throw new TooDeep();
    }
    int tag = b[off++] & 0xff;
    if ((tag & 0x1f) == 0x1f) {
      int n = 0;
      int x;
      do {
        if (off >= end || ++n > 4) {
          throw new Malformed("a tag number does not end");
        }
        x = b[off++] & 0xff;
      } while ((x & 0x80) != 0);
    }
    if (off >= end) {
      throw new Malformed("a length is missing");
    }
    int first = b[off++] & 0xff;
    long length;
    if (first < 0x80) {
      length = first;
    } else if (first == 0x80) {
      throw new Malformed("indefinite length");
    } else {
      int k = first & 0x7f;
      if (k > 4) {
        throw new Malformed("a length of " + k + " bytes");
      }
      length = 0;
      for (int i = 0; i < k; i++) {
        if (off >= end) {
          throw new Malformed("a length is cut short");
        }
        length = (length << 8) | (b[off++] & 0xff);
      }
    }
    if (length > end - off) {
      throw new Malformed("a length runs past its enclosing structure");
    }
    int contentEnd = off + (int) length;
    boolean constructed = (tag & 0x20) != 0;
    if (constructed) {
      elements(b, off, contentEnd, depth + 1, maxDepth);
    } else if (tag == 0x04 && length > 1) {
      nested(b, off, contentEnd, depth + 1, maxDepth);
    } else if (tag == 0x03 && length > 2 && b[off] == 0) {
      nested(b, off + 1, contentEnd, depth + 1, maxDepth);
    }
    return contentEnd;
  }

  private static void elements(byte[] b, int off, int end, int depth, int maxDepth) {
    while (off < end) {
      off = element(b, off, end, depth, maxDepth);
    }
  }

  /** Contents that may or may not be DER: counted when they are, opaque when they are not. */
  private static void nested(byte[] b, int off, int end, int depth, int maxDepth) {
    try {
      elements(b, off, end, depth, maxDepth);
    } catch (Malformed opaque) {
      // Not DER: a key, a signature, an IP address. Depth violations propagate.
    }
  }

  private static final class TooDeep extends RuntimeException {
    TooDeep() {
      super(null, null, false, false);
    }
  }

  private static final class Malformed extends RuntimeException {
    Malformed(String message) {
      super(message, null, false, false);
    }
  }
}
