package dev.kubemtls.bench.netty;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The Go baseline of {@link HandshakeHarness}: the program in {@code src/main/go/handshake} (Go's
 * {@code crypto/tls}, standard library only), built here with {@code go build} into {@code target/},
 * run in one process (both ends; the server's CPU cannot be told apart) or as a server and a client
 * process (the server process is the server alone).
 */
final class GoBaseline implements HandshakeHarness.Variant {

  private final String name;
  private final Path binary;
  private final Path dir;
  private final boolean split;
  private final int connections;
  private GoProcess server;
  private GoProcess client;

  GoBaseline(String name, Path binary, Path dir, boolean split, int connections) {
    this.name = name;
    this.binary = binary;
    this.dir = dir;
    this.split = split;
    this.connections = connections;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public void start() throws Exception {
    if (split) {
      server = new GoProcess(binary, dir, "server", null, connections, true);
      String port = server.firstLine.replace("listening ", "").trim();
      client = new GoProcess(binary, dir, "client", "127.0.0.1:" + port, connections, false);
    } else {
      client = new GoProcess(binary, dir, "both", null, connections, false);
    }
  }

  @Override
  public void mark() throws Exception {
    if (server != null) {
      server.command("mark");
    }
    client.command("mark");
  }

  @Override
  public HandshakeHarness.Sample report() throws Exception {
    double[] c = client.report();
    if (server == null) {
      return new HandshakeHarness.Sample((long) c[0], c[2], c[1], Double.NaN);
    }
    double[] s = server.report();
    return new HandshakeHarness.Sample((long) c[0], c[2], c[1] + s[1], s[1]);
  }

  @Override
  public void stop() throws Exception {
    close();
  }

  @Override
  public void close() throws Exception {
    if (client != null) {
      client.close();
      client = null;
    }
    if (server != null) {
      server.close();
      server = null;
    }
  }

  private static Path goSource() {
    String configured = System.getProperty("bench.go.source");
    if (configured != null) {
      return Path.of(configured);
    }
    for (Path p : List.of(Path.of("benchmarks/src/main/go/handshake"), Path.of("src/main/go/handshake"))) {
      if (Files.isRegularFile(p.resolve("main.go"))) {
        return p;
      }
    }
    throw new IllegalStateException("cannot find the Go baseline (benchmarks/src/main/go/handshake);"
        + " run from the repository root or the benchmarks module, or set -Dbench.go.source=<dir>");
  }

  static Path build() throws Exception {
    Path source = goSource().toAbsolutePath();
    Path target = source.getParent().getParent().getParent().getParent().resolve("target");
    Files.createDirectories(target);
    Path binary = target.resolve("handshake-go");
    ProcessBuilder pb = new ProcessBuilder(System.getProperty("bench.go", "go"), "build", "-o",
        binary.toString(), ".").directory(source.toFile()).redirectErrorStream(true);
    // Standard library only: nothing to download, and no toolchain switch.
    pb.environment().put("GOTOOLCHAIN", "local");
    pb.environment().put("GOPROXY", "off");
    pb.environment().put("GOFLAGS", "-mod=mod");
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("go build of " + source + " failed (is a Go toolchain on the PATH,"
          + " or -Dbench.go set?):\n" + out);
    }
    return binary;
  }

  static String version() throws Exception {
    Process p = new ProcessBuilder(System.getProperty("bench.go", "go"), "version").start();
    String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    p.waitFor();
    return v.replace("go version ", "");
  }

  /** One process of the Go program, driven through its stdin. */
  private static final class GoProcess implements AutoCloseable {
    private static final Pattern REPORT = Pattern.compile(
        "handshakes=(\\d+) cpu_seconds=([0-9.]+) wall_seconds=([0-9.]+) failed=(\\d+)");
    private final Process process;
    private final BufferedReader out;
    private final Writer in;
    final String firstLine;

    GoProcess(Path binary, Path dir, String mode, String addr, int connections, boolean greets)
        throws IOException {
      List<String> cmd = new ArrayList<>(List.of(binary.toString(), "-mode=" + mode, "-dir=" + dir,
          "-conns=" + connections));
      if (addr != null) {
        cmd.add("-addr=" + addr);
      }
      process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
      in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
      firstLine = greets ? readLine() : null;
    }

    private String readLine() throws IOException {
      String line = out.readLine();
      if (line == null) {
        throw new IllegalStateException("the Go baseline exited (status "
            + (process.isAlive() ? "running" : String.valueOf(process.exitValue())) + ")");
      }
      return line;
    }

    String command(String c) throws IOException {
      in.write(c + "\n");
      in.flush();
      return readLine();
    }

    /** handshakes, cpu seconds, wall seconds. */
    double[] report() throws IOException {
      String line = command("report");
      Matcher m = REPORT.matcher(line);
      if (!m.find()) {
        throw new IllegalStateException("unexpected report from the Go baseline: " + line);
      }
      if (Long.parseLong(m.group(4)) > 0) {
        throw new IllegalStateException("Go baseline: " + m.group(4) + " connections failed");
      }
      return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)),
          Double.parseDouble(m.group(3))};
    }

    @Override
    public void close() throws Exception {
      in.close();
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroy();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    }
  }
}
