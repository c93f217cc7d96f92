package dev.kubemtls.signer.internal;

import java.util.Optional;

/**
 * The shape of DER bytes from outside, checked before any ASN.1 parser sees them: one element that
 * fills the input exactly, definite minimal lengths (DER, as Go's parser demands, so what the API
 * server accepted passes), every element inside the one that holds it, constructed elements nested at
 * most {@code maxDepth} deep, tags of at most four bytes. The walk is iterative and reads each header
 * once, so it costs the input's length whatever the input is; BouncyCastle's parser recurses once per
 * level, and a few kilobytes of nested headers would otherwise reach it.
 *
 * <p>Only constructed encodings are descended into: the contents of a BIT STRING or OCTET STRING
 * are opaque here, and a caller that parses them checks them with {@link #problem} as well.
 */
final class DerLimits {

  private DerLimits() {}

  /**
   * What is wrong with {@code der}'s shape, or empty when it is one well-formed DER element nested at
   * most {@code maxDepth} deep.
   */
  public static Optional<String> problem(byte[] der, int maxDepth) {
    if (der.length == 0) {
      return Optional.of("no bytes");
    }
    int[] ends = new int[maxDepth];
    int depth = 0;
    int pos = 0;
    boolean topSeen = false;
    while (true) {
      while (depth > 0 && pos == ends[depth - 1]) {
        depth--;
      }
      if (depth == 0) {
        if (topSeen) {
          return pos == der.length ? Optional.empty()
              : Optional.of((der.length - pos) + " bytes after the end of the structure");
        }
        topSeen = true;
      }
      int limit = depth == 0 ? der.length : ends[depth - 1];
      if (pos >= limit) {
        return Optional.of("truncated at byte " + pos);
      }
      int tag = der[pos++] & 0xff;
      if ((tag & 0x1f) == 0x1f) {
        int tagBytes = 0;
        int b;
        do {
          if (pos >= limit || ++tagBytes > 4) {
            return Optional.of("a tag number longer than four bytes or truncated at byte " + pos);
          }
          b = der[pos++] & 0xff;
        } while ((b & 0x80) != 0);
      }
      if (pos >= limit) {
        return Optional.of("truncated at byte " + pos);
      }
      int first = der[pos++] & 0xff;
      long length;
      if (first < 0x80) {
        length = first;
      } else if (first == 0x80) {
        return Optional.of("an indefinite length (BER, not DER) at byte " + (pos - 1));
      } else {
        int count = first & 0x7f;
        if (count > 4) {
          return Optional.of("a length of " + count + " bytes at byte " + (pos - 1));
        }
        length = 0;
        for (int i = 0; i < count; i++) {
          if (pos >= limit) {
            return Optional.of("truncated at byte " + pos);
          }
          length = (length << 8) | (der[pos++] & 0xff);
        }
        if (length < 0x80 || (count > 1 && length < (1L << (8 * (count - 1))))) {
          return Optional.of("a length not in its shortest form (BER, not DER) at byte " + (pos - count - 1));
        }
      }
      if (length > limit - pos) {
        return Optional.of("an element at byte " + pos + " is longer (" + length + ") than what holds it");
      }
      if ((tag & 0x20) != 0) {
        if (depth == maxDepth) {
          return Optional.of("nested deeper than " + maxDepth + " levels");
        }
        ends[depth++] = pos + (int) length;
      } else {
        pos += (int) length;
      }
    }
  }

  /**
   * The offset and length of the first element inside the constructed element that starts at
   * {@code offset}: {@code {start, totalLength}} with the header included. For input that
   * {@link #problem} found well-formed.
   */
  static int[] firstChild(byte[] der, int offset) {
    int contents = offset + headerLength(der, offset);
    return new int[] {contents, headerLength(der, contents) + contentLength(der, contents)};
  }

  /** The number of tag and length bytes of the element at {@code offset}. */
  static int headerLength(byte[] der, int offset) {
    int pos = offset + 1;
    if ((der[offset] & 0x1f) == 0x1f) {
      while ((der[pos++] & 0x80) != 0) {
        // the tag's continuation bytes
      }
    }
    int first = der[pos] & 0xff;
    return pos - offset + 1 + (first < 0x80 ? 0 : first & 0x7f);
  }

  /** The contents' length of the element at {@code offset}. */
  static int contentLength(byte[] der, int offset) {
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
}
