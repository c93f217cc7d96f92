package dev.kubemtls.core.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A directory written the way the kubelet's atomic writer writes projected volumes: each version of
 * the files goes into a new hidden, timestamped directory; the symlink {@code ..data} is switched to
 * it in one rename; the visible names are symlinks {@code name -> ..data/name}; the previous
 * version's directory is removed after the switch. For tests of file-based sources where no kubelet
 * runs (shipped in mtls-core's test jar).
 */
public final class ProjectedVolume {

  private static final AtomicLong VERSION = new AtomicLong();

  private final Path dir;
  private Path current;

  public ProjectedVolume(Path dir) {
    this.dir = dir;
  }

  public Path file(String name) {
    return dir.resolve(name);
  }

  /** Publishes a new version holding exactly {@code files} (name to PEM text), atomically. */
  public void write(Map<String, String> files) {
    try {
      Path version = dir.resolve("..2026_12_01_00_00_00." + VERSION.incrementAndGet());
      Files.createDirectories(version);
      for (Map.Entry<String, String> f : files.entrySet()) {
        Files.writeString(version.resolve(f.getKey()), f.getValue(), StandardCharsets.US_ASCII);
      }
      Path tmp = dir.resolve("..data_tmp");
      Files.deleteIfExists(tmp);
      Files.createSymbolicLink(tmp, version.getFileName());
      Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      for (String name : files.keySet()) {
        Path visible = dir.resolve(name);
        if (!Files.isSymbolicLink(visible)) {
          Files.createSymbolicLink(visible, Path.of("..data", name));
        }
      }
      if (current != null) {
        deleteTree(current);
      }
      current = version;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Overwrites one file of the current version in place: what a writer that is not atomic does. */
  public void overwriteInPlace(String name, String text) {
    try {
      Files.writeString(current.resolve(name), text, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteTree(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
