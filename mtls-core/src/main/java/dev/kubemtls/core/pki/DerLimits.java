package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import java.util.Optional;

/**
 * The shape of DER taken from outside (certificates and keys in PEM, CSRs, signed bundles), checked
 * before an ASN.1 parser builds anything from it. BouncyCastle's and the JDK's parsers recurse once
 * per nesting level and believe any definite length, so a few hundred kilobytes of nested headers
 * could end a thread with a {@link StackOverflowError}, and a huge input costs memory before
 * anything is decided. This is the one walker every module uses.
 *
 * <p>The walk reads tag-length headers only, iteratively within a structure: one element that fills
 * the input exactly, definite lengths that stay inside what holds them, tags of at most four bytes,
 * nesting at most {@code maxDepth} deep, at most {@code maxBytes} in all. Under
 * {@link Encoding#DER} a length must also be in its shortest form, as Go's parser (and so the API
 * server) demands. With {@link #inspectingStrings()} the contents of an OCTET STRING or BIT STRING
 * that are themselves DER (X.509 and PKCS#10 wrap extension values and keys so) are walked too, and
 * their nesting counts; contents that are not DER are opaque bytes. Work is linear in the input,
 * times the depth limit when strings are inspected.
 */
public final class DerLimits {

  /**
   * The deepest nesting accepted by default. A certificate or request made by an ordinary tool nests
   * about a dozen levels; 32 leaves room without letting a parser recurse thousands of times.
   */
  public static final int MAX_DEPTH = 32;
  /** The most DER bytes of one certificate or key read from outside. */
  public static final int MAX_CERTIFICATE_BYTES = 64 * 1024;
  /**
   * The most DER bytes of one certificate signing request: 256 SANs of 253 characters fit (about
   * 66 KB), so a request over a name cap is still read and refused for its names.
   */
  public static final int MAX_REQUEST_BYTES = 256 * 1024;

  /** How strictly lengths are read. */
  public enum Encoding {
    /** Definite lengths in any form, as the JDK's certificate parser accepts. */
    DEFINITE,
    /** Definite lengths in their shortest form only (DER). */
    DER
  }

  private final int maxBytes;
  private final int maxDepth;
  private final Encoding encoding;
  private final boolean inspectStrings;

  private DerLimits(int maxBytes, int maxDepth, Encoding encoding, boolean inspectStrings) {
    if (maxBytes < 1 || maxDepth < 1) {
      throw new IllegalArgumentException("maxBytes and maxDepth must be positive");
    }
    this.maxBytes = maxBytes;
    this.maxDepth = maxDepth;
    this.encoding = encoding;
    this.inspectStrings = inspectStrings;
  }

  /** Limits of {@code maxBytes} and {@code maxDepth}, any definite length, strings opaque. */
  public static DerLimits of(int maxBytes, int maxDepth) {
    return new DerLimits(maxBytes, maxDepth, Encoding.DEFINITE, false);
  }

  /** The limits for one certificate or key: {@link #MAX_CERTIFICATE_BYTES}, {@link #MAX_DEPTH}, strings inspected. */
  public static DerLimits certificate() {
    return of(MAX_CERTIFICATE_BYTES, MAX_DEPTH).inspectingStrings();
  }

  /** These limits with lengths read under {@code encoding}. */
  public DerLimits encoding(Encoding encoding) {
    return new DerLimits(maxBytes, maxDepth, java.util.Objects.requireNonNull(encoding, "encoding"),
        inspectStrings);
  }

  /** These limits, also walking OCTET STRING and BIT STRING contents that are DER. */
  public DerLimits inspectingStrings() {
    return new DerLimits(maxBytes, maxDepth, encoding, true);
  }

  /** What is wrong with {@code der}, or empty when it is within these limits. */
  public Optional<String> problem(byte[] der) {
    if (der.length == 0) {
      return Optional.of("no bytes");
    }
    if (der.length > maxBytes) {
      return Optional.of(der.length + " bytes of DER; at most " + maxBytes + " are read");
    }
    try {
      String wrong = walk(der, 0, der.length, maxDepth, true);
      return Optional.ofNullable(wrong);
    } catch (TooDeep e) {
      return Optional.of("ASN.1 structures nested deeper than " + maxDepth + " levels");
    }
  }

  /**
   * Checks {@code der}.
   *
   * @param what names the input in the message, e.g. {@code status.certificate}
   * @throws InvalidMaterialException saying what is wrong
   */
  public void check(byte[] der, String what) {
    Optional<String> wrong = problem(der);
    if (wrong.isPresent()) {
      throw new InvalidMaterialException(what + " is not acceptable DER: " + wrong.get());
    }
  }

  /**
   * Walks the elements in {@code [from, to)}: exactly one when {@code single}, else any number.
   * Returns what is malformed, or null; throws {@link TooDeep} past the depth budget.
   */
  private String walk(byte[] b, int from, int to, int budget, boolean single) {
    int[] ends = new int[budget];
    int depth = 0;
    int pos = from;
    boolean topSeen = false;
    while (true) {
      while (depth > 0 && pos == ends[depth - 1]) {
        depth--;
      }
      if (depth == 0) {
        if (pos == to && (topSeen || !single)) {
          return null;
        }
        if (single && topSeen) {
          return (to - pos) + " bytes after the end of the structure";
        }
        topSeen = true;
      }
      int limit = depth == 0 ? to : ends[depth - 1];
      if (pos >= limit) {
        return "truncated at byte " + pos;
      }
      int tag = b[pos++] & 0xff;
      if ((tag & 0x1f) == 0x1f) {
        int tagBytes = 0;
        int x;
        do {
          if (pos >= limit || ++tagBytes > 4) {
            return "a tag number longer than four bytes or truncated at byte " + pos;
          }
          x = b[pos++] & 0xff;
        } while ((x & 0x80) != 0);
      }
      if (pos >= limit) {
        return "truncated at byte " + pos;
      }
      int first = b[pos++] & 0xff;
      long length;
      if (first < 0x80) {
        length = first;
      } else if (first == 0x80) {
        return "an indefinite length (BER, not DER) at byte " + (pos - 1);
      } else {
        int count = first & 0x7f;
        if (count > 4) {
          return "a length of " + count + " bytes at byte " + (pos - 1);
        }
        length = 0;
        for (int i = 0; i < count; i++) {
          if (pos >= limit) {
            return "truncated at byte " + pos;
          }
          length = (length << 8) | (b[pos++] & 0xff);
        }
        if (encoding == Encoding.DER
            && (length < 0x80 || (count > 1 && length < (1L << (8 * (count - 1)))))) {
          return "a length not in its shortest form (BER, not DER) at byte " + (pos - count - 1);
        }
      }
      if (length > limit - pos) {
        return "an element at byte " + pos + " is longer (" + length + ") than what holds it";
      }
      int contentEnd = pos + (int) length;
      if ((tag & 0x20) != 0) {
        if (depth == budget) {
          throw new TooDeep();
        }
        ends[depth++] = contentEnd;
      } else {
        if (inspectStrings && depth + 1 < budget) {
          if (tag == 0x04 && length > 1) {
            opaqueOrShallow(b, pos, contentEnd, budget - depth - 1);
          } else if (tag == 0x03 && length > 2 && b[pos] == 0) {
            opaqueOrShallow(b, pos + 1, contentEnd, budget - depth - 1);
          }
        }
        pos = contentEnd;
      }
    }
  }

  /** String contents: nesting counts when they are DER; when they are not, they are opaque. */
  private void opaqueOrShallow(byte[] b, int from, int to, int budget) {
    walk(b, from, to, budget, false);
  }

  /**
   * The offset and length (header included) of the first element inside the constructed element at
   * {@code offset}, as {@code {start, totalLength}}. For input {@link #problem} found well-formed.
   */
  public static int[] firstChild(byte[] der, int offset) {
    int contents = offset + headerLength(der, offset);
    return new int[] {contents, headerLength(der, contents) + contentLength(der, contents)};
  }

  /** The number of tag and length bytes of the element at {@code offset}, of well-formed input. */
  public static int headerLength(byte[] der, int offset) {
    int pos = offset + 1;
    if ((der[offset] & 0x1f) == 0x1f) {
      while ((der[pos++] & 0x80) != 0) {
        // the tag's continuation bytes
      }
    }
    int first = der[pos] & 0xff;
    return pos - offset + 1 + (first < 0x80 ? 0 : first & 0x7f);
  }

  /** The contents' length of the element at {@code offset}, of well-formed input. */
  public static int contentLength(byte[] der, int offset) {
    int pos = offset + 1;
    if ((der[offset] & 0x1f) == 0x1f) {
      while ((der[pos++] & 0x80) != 0) {
        // the tag's continuation bytes
      }
    }
    int first = der[pos++] & 0xff;
    if (first < 0x80) {
      return first;
    }
    int length = 0;
    for (int i = 0; i < (first & 0x7f); i++) {
      length = (length << 8) | (der[pos++] & 0xff);
    }
    return length;
  }

  private static final class TooDeep extends RuntimeException {
    TooDeep() {
      super(null, null, false, false);
    }
  }
}
