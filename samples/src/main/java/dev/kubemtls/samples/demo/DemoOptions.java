package dev.kubemtls.samples.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The demo's command line. Every option has a default, so {@code ./demo} alone runs the whole show.
 *
 * @param duration      how long traffic runs (default 3 minutes)
 * @param certTtl       the signer's maximum certificate lifetime, short so that renewals happen
 * @param caRotationAt  when to start the CA rotation, from the start of traffic
 * @param kubeconfig    an existing cluster to use instead of the embedded control plane
 */
record DemoOptions(Duration duration, Duration certTtl, Duration caRotationAt, Optional<Path> kubeconfig) {

  /**
   * The usage text. It lives in {@code usage.txt} beside this class so that {@code ./demo --help} can print
   * it without building anything, and the Java program prints the same text.
   */
  static final String USAGE = usage();

  DemoOptions {
    if (duration.compareTo(Duration.ofSeconds(30)) < 0) {
      throw new IllegalArgumentException("--duration must be at least 30s, was " + duration.toSeconds() + "s");
    }
    if (certTtl.compareTo(Duration.ofSeconds(20)) < 0) {
      throw new IllegalArgumentException("--cert-ttl must be at least 20s, was " + certTtl.toSeconds() + "s");
    }
    if (caRotationAt.isNegative() || caRotationAt.compareTo(duration) >= 0) {
      throw new IllegalArgumentException("--ca-rotation-at must fall within --duration");
    }
  }

  static DemoOptions parse(String[] args) {
    Duration duration = Duration.ofSeconds(180);
    Duration ttl = Duration.ofSeconds(60);
    Duration rotation = null;
    Path kubeconfig = null;
    for (String arg : args) {
      if (arg.equals("-h") || arg.equals("--help")) {
        throw new IllegalArgumentException("");
      }
      int eq = arg.indexOf('=');
      if (!arg.startsWith("--") || eq < 0) {
        throw new IllegalArgumentException("unrecognised argument '" + arg + "': options take the form --name=value");
      }
      String name = arg.substring(2, eq);
      String value = arg.substring(eq + 1);
      switch (name) {
        case "duration" -> duration = parseDuration(name, value);
        case "cert-ttl" -> ttl = parseDuration(name, value);
        case "ca-rotation-at" -> rotation = parseDuration(name, value);
        case "kubeconfig" -> kubeconfig = Path.of(value);
        default -> throw new IllegalArgumentException("unknown option --" + name);
      }
    }
    return new DemoOptions(duration, ttl, rotation != null ? rotation : duration.dividedBy(4),
        Optional.ofNullable(kubeconfig));
  }

  private static String usage() {
    try (InputStream in = DemoOptions.class.getResourceAsStream("usage.txt")) {
      if (in == null) {
        throw new IllegalStateException("usage.txt is missing beside DemoOptions");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code 90}, {@code 90s}, {@code 3m}, {@code 1h}. */
  static Duration parseDuration(String name, String value) {
    try {
      String v = value.trim();
      if (v.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      }
      char unit = v.charAt(v.length() - 1);
      if (Character.isDigit(unit)) {
        return Duration.ofSeconds(Long.parseLong(v));
      }
      long n = Long.parseLong(v.substring(0, v.length() - 1));
      return switch (unit) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        default -> throw new NumberFormatException();
      };
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("--" + name + " must be a duration such as 90s, 3m or 1h, was '" + value + "'");
    }
  }
}
