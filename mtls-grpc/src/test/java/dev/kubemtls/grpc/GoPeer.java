package dev.kubemtls.grpc;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.testkit.TestCa;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Go gRPC client of {@code src/test/go/echoclient}, built with {@code go build} into
 * {@code target/} once per JVM: a peer that shares no code with the Java side. Without a Go
 * toolchain the tests that use it fail and say how to install one; they never skip.
 */
final class GoPeer {

  private static Path binary;

  private GoPeer() {}

  /** What the client printed and its exit code. */
  record Result(int exitCode, String output) {}

  static synchronized Path binary() throws IOException, InterruptedException {
    if (binary != null) {
      return binary;
    }
    Path source = Path.of("src", "test", "go", "echoclient").toAbsolutePath();
    if (!Files.isRegularFile(source.resolve("main.go"))) {
      throw new IllegalStateException("the Go client's source is missing at " + source
          + " (run the tests from the mtls-grpc module directory, as Maven does)");
    }
    String go = findGo();
    Path out = Path.of("target", "go", "echoclient").toAbsolutePath();
    Files.createDirectories(out.getParent());
    ProcessBuilder pb = new ProcessBuilder(go, "build", "-o", out.toString(), ".")
        .directory(source.toFile()).redirectErrorStream(true);
    pb.environment().putIfAbsent("GOFLAGS", "-mod=readonly");
    Process p = pb.start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException("go build of the Go gRPC client failed (it needs the Go module"
          + " proxy, or google.golang.org/grpc in the module cache): " + log);
    }
    binary = out;
    return out;
  }

  private static String findGo() {
    List<String> candidates = new ArrayList<>();
    String path = System.getenv("PATH");
    if (path != null) {
      for (String dir : path.split(File.pathSeparator)) {
        candidates.add(dir + File.separator + "go");
      }
    }
    candidates.add("/usr/local/go/bin/go");
    candidates.add("/usr/lib/go/bin/go");
    for (String c : candidates) {
      if (Files.isExecutable(Path.of(c))) {
        return c;
      }
    }
    throw new IllegalStateException("no Go toolchain found on PATH: the non-Java peer test builds a Go gRPC"
        + " client. Install Go (scripts/install-prereqs.sh does, or apt-get install golang-go) and rerun");
  }

  /** Writes the material as PEM files into {@code dir}: key.pem, chain.pem, ca.pem. */
  static void writePem(MtlsMaterial material, Path dir) throws IOException {
    Files.writeString(dir.resolve("key.pem"), TestCa.toPem(material.identity().privateKey()));
    Files.writeString(dir.resolve("chain.pem"), Pem.encodeCertificates(material.identity().chain()));
    Files.writeString(dir.resolve("ca.pem"), Pem.encodeCertificates(material.trust().certificates()));
  }

  /**
   * Runs the client against {@code addr}, presenting key.pem/chain.pem from {@code dir} if
   * {@code withCertificate}, trusting ca.pem, expecting {@code serverName} on the server's certificate.
   */
  static Result call(String addr, String serverName, Path dir, boolean withCertificate, String message)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(binary().toString(), "-addr", addr, "-server-name", serverName,
        "-ca", dir.resolve("ca.pem").toString(), "-message", message));
    if (withCertificate) {
      cmd.addAll(List.of("-cert", dir.resolve("chain.pem").toString(), "-key", dir.resolve("key.pem").toString()));
    }
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("the Go client did not finish within 60 s: " + out);
    }
    return new Result(p.exitValue(), out);
  }
}
