package dev.kubemtls.netty.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;

/** Validation of ALPN protocol lists shared by both builders. */
public final class AlpnProtocols {

  private AlpnProtocols() {}

  /** A copy of {@code protocols} after checking each is 1 to 255 ASCII characters and unique. */
  public static List<String> check(String... protocols) {
    Objects.requireNonNull(protocols, "protocols");
    if (protocols.length == 0) {
      throw new IllegalArgumentException("give at least one ALPN protocol, e.g. \"h2\" or \"http/1.1\"");
    }
    LinkedHashSet<String> seen = new LinkedHashSet<>();
    for (String p : protocols) {
      Objects.requireNonNull(p, "ALPN protocol");
      int len = p.getBytes(StandardCharsets.US_ASCII).length;
      if (p.isEmpty() || len > 255 || !StandardCharsets.US_ASCII.newEncoder().canEncode(p)) {
        throw new IllegalArgumentException("ALPN protocol '" + p + "' must be 1 to 255 ASCII characters");
      }
      if (!seen.add(p)) {
        throw new IllegalArgumentException("ALPN protocol '" + p + "' is listed twice");
      }
    }
    return List.copyOf(new ArrayList<>(seen));
  }
}
