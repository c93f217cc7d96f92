package dev.kubemtls.grpc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@code openssl s_client} as an outside peer: one connection with ALPN {@code h2}, and what it printed. */
final class OpensslClient {

  private OpensslClient() {}

  /**
   * Connects to 127.0.0.1:{@code port} trusting {@code ca.pem} in {@code dir}, with {@code options}
   * added, and returns its output once it has ended (its input is closed at once).
   */
  static String run(Path dir, int port, String... options) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
        "-CAfile", "ca.pem", "-alpn", "h2"));
    command.addAll(List.of(options));
    Path out = Files.createTempFile(dir, "s_client", ".txt");
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    try {
      p.getOutputStream().close();
    } catch (IOException e) {
      // s_client has already ended
    }
    if (!p.waitFor(20, TimeUnit.SECONDS)) {
      p.destroy();
      p.waitFor(20, TimeUnit.SECONDS);
    }
    return Files.readString(out, StandardCharsets.ISO_8859_1);
  }
}
