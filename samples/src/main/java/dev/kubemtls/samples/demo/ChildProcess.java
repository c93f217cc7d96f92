package dev.kubemtls.samples.demo;

import dev.kubemtls.samples.DemoEvents;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

/**
 * A sample service or the signer, run as its own JVM the way a pod runs its container: its own
 * credentials (a kubeconfig with its ServiceAccount token), its own environment (the downward-API
 * variables), its output read line by line by the demo driver.
 */
final class ChildProcess {

  private final String name;
  private final Process process;
  private final Thread reader;

  private ChildProcess(String name, Process process, BiConsumer<String, String> onLine) {
    this.name = name;
    this.process = process;
    this.reader = new Thread(() -> pump(onLine), "demo-" + name + "-output");
    this.reader.setDaemon(true);
    this.reader.start();
  }

  /** Starts {@code mainClass} in a new JVM with this JVM's class path. */
  static ChildProcess start(String name, String mainClass, List<String> args, Map<String, String> env,
      Path workDir, BiConsumer<String, String> onLine) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx256m");
    command.add("-XX:+UseSerialGC");
    command.add("-XX:TieredStopAtLevel=1");
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    command.add("-Dorg.slf4j.simpleLogger.log.dev.kubemtls=info");
    command.add("-cp");
    command.add(absoluteClassPath());
    command.add(mainClass);
    command.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true);
    pb.environment().keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.equals("KUBECONFIG"));
    pb.environment().putAll(env);
    try {
      return new ChildProcess(name, pb.start(), onLine);
    } catch (IOException e) {
      throw new UncheckedIOException("could not start " + name, e);
    }
  }

  /** This JVM's class path with every entry made absolute: children run in another directory. */
  static String absoluteClassPath() {
    StringBuilder sb = new StringBuilder();
    for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
      if (!entry.isEmpty()) {
        sb.append(sb.length() == 0 ? "" : java.io.File.pathSeparator).append(Path.of(entry).toAbsolutePath());
      }
    }
    return sb.toString();
  }

  String name() {
    return name;
  }

  boolean isAlive() {
    return process.isAlive();
  }

  int exitCode() {
    return process.exitValue();
  }

  /** Waits for a process that is meant to end by itself. */
  boolean awaitExit(long seconds) throws InterruptedException {
    return process.waitFor(seconds, TimeUnit.SECONDS);
  }

  /** SIGTERM, then SIGKILL after ten seconds; waits until its output is read. */
  void stop() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          process.waitFor(5, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    try {
      reader.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void pump(BiConsumer<String, String> onLine) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        onLine.accept(name, line);
      }
    } catch (IOException e) {
      onLine.accept(name, "(output closed: " + e.getMessage() + ")");
    }
  }

  static boolean isEvent(String line) {
    return line.startsWith(DemoEvents.PREFIX);
  }
}
