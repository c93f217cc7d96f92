package dev.kubemtls.samples;

import java.util.Locale;

/**
 * One line per state change on standard output, in a form the demo driver reads:
 * {@code KMTLS-EVENT <kind> key=value ...}. The samples print these beside their ordinary log so
 * that the demo can show what happened and count it; a real service would send the same facts to
 * its metrics instead.
 */
public final class DemoEvents {

  /** The prefix of every event line. */
  public static final String PREFIX = "KMTLS-EVENT ";

  private DemoEvents() {}

  /** Prints one event; {@code details} are {@code key=value} words. */
  public static void emit(String kind, String... details) {
    StringBuilder sb = new StringBuilder(PREFIX).append(kind.toLowerCase(Locale.ROOT));
    for (String d : details) {
      sb.append(' ').append(d.replace('\n', ' '));
    }
    synchronized (System.out) {
      System.out.println(sb);
      System.out.flush();
    }
  }
}
