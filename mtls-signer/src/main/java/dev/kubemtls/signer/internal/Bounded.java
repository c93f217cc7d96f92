package dev.kubemtls.signer.internal;

import java.util.Collection;
import java.util.Iterator;

/**
 * Keeps condition messages short whatever a request holds: a hostile request may carry thousands of
 * names or a name of kilobytes, and a message that repeats them would bloat the CSR object, logs
 * and events. Lists show their first few items and a count of the rest; each item is clipped.
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

  /** {@code text} itself, or its first {@code max} characters followed by {@code ...(N more characters)}. */
  public static String clip(String text, int max) {
    if (text == null || text.length() <= max) {
      return text;
    }
    return text.substring(0, max) + "...(" + (text.length() - max) + " more characters)";
  }

  /** A message clipped to {@link #MESSAGE_CHARS}. */
  public static String message(String message) {
    if (message == null || message.length() <= MESSAGE_CHARS) {
      return message;
    }
    String tail = "...(truncated)";
    return message.substring(0, MESSAGE_CHARS - tail.length()) + tail;
  }
}
