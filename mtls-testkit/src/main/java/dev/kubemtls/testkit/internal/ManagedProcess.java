package dev.kubemtls.testkit.internal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * One child process of the control plane (etcd, kube-apiserver, kube-controller-manager) with its
 * output in a log file, so that a failure can quote the log's tail.
 */
public final class ManagedProcess {

  private final String name;
  private final List<String> command;
  private final Path log;
  private final Map<String, String> environment;
  private volatile Process process;

  public ManagedProcess(String name, List<String> command, Path log) {
    this(name, command, log, Map.of());
  }

  /** A process whose environment is this JVM's plus {@code environment}. */
  public ManagedProcess(String name, List<String> command, Path log, Map<String, String> environment) {
    this.name = Objects.requireNonNull(name);
    this.command = List.copyOf(command);
    this.log = Objects.requireNonNull(log);
    this.environment = Map.copyOf(environment);
  }

  public String name() {
    return name;
  }

  public Path log() {
    return log;
  }

  public synchronized void start() {
    if (isAlive()) {
      throw new IllegalStateException(name + " is already running");
    }
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(environment);
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new ControlPlaneStartException(name + " could not be started (" + e.getMessage() + ")."
          + " Command: " + String.join(" ", command), e);
    }
  }

  public boolean isAlive() {
    Process p = process;
    return p != null && p.isAlive();
  }

  /** Fails with the log's tail if the process has exited. */
  public void checkAlive() {
    Process p = process;
    if (p != null && !p.isAlive()) {
      throw new ControlPlaneStartException(name + " exited with code " + p.exitValue()
          + ". Last lines of its log " + log + ":\n" + tail(40));
    }
  }

  /** Stops the process: SIGTERM, then SIGKILL after ten seconds. */
  public synchronized void stop() {
    Process p = process;
    if (p == null) {
      return;
    }
    p.descendants().forEach(ProcessHandle::destroy);
    p.destroy();
    try {
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    process = null;
  }

  /** The last {@code lines} lines of the log. */
  public String tail(int lines) {
    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
      long len = f.length();
      long from = Math.max(0, len - 16_384);
      byte[] buf = new byte[(int) (len - from)];
      f.seek(from);
      f.readFully(buf);
      return lastLines(new String(buf, StandardCharsets.UTF_8), lines);
    } catch (IOException e) {
      return "    (log unreadable: " + e.getMessage() + ")";
    }
  }

  /** The last {@code lines} lines of {@code text}, indented for quoting in an error message. */
  public static String lastLines(String text, int lines) {
    String[] all = text.split("\n");
    List<String> out = new ArrayList<>();
    for (int i = Math.max(0, all.length - lines); i < all.length; i++) {
      out.add("    " + all[i]);
    }
    return String.join("\n", out);
  }

  public static void deleteRecursively(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // best effort at JVM exit
        }
      });
    } catch (IOException ignored) {
      // best effort at JVM exit
    }
  }
}
