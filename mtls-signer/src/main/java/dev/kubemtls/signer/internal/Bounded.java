package dev.kubemtls.signer.internal;

import java.util.Collection;
import java.util.Iterator;

/**
 * Keeps condition messages short whatever a request holds: a hostile request may carry thousands of
 * names or a name of kilobytes, and a message that repeats them would bloat the CSR object, logs
 * and events. Lists show their first few items and a count of the rest; each item is clipped.
 *
 * <p>Every text that passes through here is also made safe to print ({@link #escape}): control
 * characters (C0, DEL, C1), Unicode line and paragraph separators and bidirectional controls become
 * {@code \n}, {@code \r}, {@code \t} or a backslash-u escape of four hex digits. A CN or SAN therefore cannot start a forged
 * line in the signer's log, a condition or an Event, nor move a terminal's cursor.
 */
public final class Bounded {

  /** Items a list shows before it says how many more there are. */
  public static final int ITEMS = 5;
  /** Characters an item keeps before it is clipped. */
  public static final int ITEM_CHARS = 100;
  /** The longest message a condition gets. */
  public static final int MESSAGE_CHARS = 1024;

  private Bounded() {}

  /** {@code [a, b, c, d, e] and 2995 more}, each item clipped to {@link #ITEM_CHARS}. */
  public static String list(Collection<?> items) {
    StringBuilder out = new StringBuilder("[");
    Iterator<?> it = items.iterator();
    int shown = 0;
    while (it.hasNext() && shown < ITEMS) {
      if (shown > 0) {
        out.append(", ");
      }
      out.append(clip(String.valueOf(it.next()), ITEM_CHARS));
      shown++;
    }
    out.append(']');
    if (items.size() > shown) {
      out.append(" and ").append(items.size() - shown).append(" more");
    }
    return out.toString();
  }

  /**
   * {@code text} {@linkplain #escape escaped}, or its first {@code max} characters followed by
   * {@code ...(N more characters)}.
   */
  public static String clip(String text, int max) {
    if (text == null) {
      return null;
    }
    String safe = escape(text);
    if (safe.length() <= max) {
      return safe;
    }
    return safe.substring(0, max) + "...(" + (safe.length() - max) + " more characters)";
  }

  /** A message {@linkplain #escape escaped} and clipped to {@link #MESSAGE_CHARS}. */
  public static String message(String message) {
    if (message == null) {
      return null;
    }
    String safe = escape(message);
    if (safe.length() <= MESSAGE_CHARS) {
      return safe;
    }
    String tail = "...(truncated)";
    return safe.substring(0, MESSAGE_CHARS - tail.length()) + tail;
  }

  /**
   * {@code text} with every character that could change how a log line, a condition or an Event is
   * displayed replaced by an escape: {@code \n}, {@code \r}, {@code \t}, and a backslash-u escape of four hex digits for
   * the other C0 controls, DEL, the C1 controls (which include CSI, the start of terminal escape
   * sequences), U+2028/U+2029 and the bidirectional controls (U+200E, U+200F, U+202A-U+202E,
   * U+2066-U+2069). Everything else, backslashes included, is kept: a literal backslash cannot end a
   * line. Null stays null.
   */
  public static String escape(String text) {
    if (text == null) {
      return null;
    }
    int i = 0;
    while (i < text.length() && !unsafe(text.charAt(i))) {
      i++;
    }
    if (i == text.length()) {
      return text;
    }
    StringBuilder out = new StringBuilder(text.length() + 16).append(text, 0, i);
    for (; i < text.length(); i++) {
      char c = text.charAt(i);
      if (!unsafe(c)) {
        out.append(c);
      } else if (c == '\n') {
        out.append("\\n");
      } else if (c == '\r') {
        out.append("\\r");
      } else if (c == '\t') {
        out.append("\\t");
      } else {
        out.append(String.format("\\u%04x", (int) c));
      }
    }
    return out.toString();
  }

  /** Whether {@code c} must be escaped before it is printed. */
  static boolean unsafe(char c) {
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0x200e || c == 0x200f
        || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
  }
}
