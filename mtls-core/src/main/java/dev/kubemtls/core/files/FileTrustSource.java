package dev.kubemtls.core.files;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustPublisher;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.pki.CaBundles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link TrustSource} that follows a PEM file of CA certificates, such as the kubelet's projected
 * {@code clusterTrustBundle} volume for a signer name or a mounted ConfigMap key.
 *
 * <p>The file is read on the injected scheduler every poll interval and checked by the rules every
 * trust source shares ({@link CaBundles}); a bundle with different certificates is passed to the
 * listeners at once. An unreadable or invalid file never replaces a valid bundle: the previous one
 * stays and the problem is reported to the listeners' {@code onProblem}, once per distinct content.
 * The bundle's {@code sourceVersion} is {@code file <path>@sha256:<first 12 hex digits>}.
 */
public final class FileTrustSource implements TrustSource, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FileTrustSource.class);
  private static final byte[] MISSING = new byte[0];

  private final Path file;
  private final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final Duration pollInterval;
  private final TrustPublisher publisher = new TrustPublisher();

  // Guarded by this.
  private byte[] lastContent;
  private ScheduledFuture<?> poller;
  private boolean closed;

  private FileTrustSource(Path file, InstantSource clock, ScheduledExecutorService scheduler, Duration pollInterval) {
    this.file = file;
    this.clock = clock;
    this.scheduler = scheduler;
    this.pollInterval = pollInterval;
  }

  /**
   * Follows {@code file}, read every {@code pollInterval} on {@code scheduler} (which is not shut
   * down by the source), judging CA expiry by {@code clock}. Call {@link #start()}.
   */
  public static FileTrustSource of(Path file, InstantSource clock, ScheduledExecutorService scheduler,
      Duration pollInterval) {
    Objects.requireNonNull(pollInterval, "pollInterval");
    if (pollInterval.compareTo(Duration.ofMillis(10)) < 0 || pollInterval.compareTo(Duration.ofMinutes(10)) > 0) {
      throw new IllegalArgumentException("pollInterval must be between 10 ms and 10 minutes, was " + pollInterval);
    }
    return new FileTrustSource(Objects.requireNonNull(file, "file"), Objects.requireNonNull(clock, "clock"),
        Objects.requireNonNull(scheduler, "scheduler"), pollInterval);
  }

  /**
   * Reads the file now and then every poll interval.
   *
   * @throws IllegalStateException if already started or closed
   */
  public synchronized void start() {
    if (closed) {
      throw new IllegalStateException("the file trust source is closed");
    }
    if (poller != null) {
      throw new IllegalStateException("the file trust source was already started");
    }
    poller = scheduler.scheduleWithFixedDelay(this::read, 0, pollInterval.toNanos(), TimeUnit.NANOSECONDS);
  }

  @Override
  public Optional<TrustBundle> currentIfReady() {
    return publisher.currentIfReady();
  }

  @Override
  public MaterialSource.Subscription subscribe(Listener listener) {
    return publisher.subscribe(listener);
  }

  /** Stops reading; the last bundle stays readable. */
  @Override
  public synchronized void close() {
    closed = true;
    if (poller != null) {
      poller.cancel(false);
    }
  }

  private void read() {
    byte[] content;
    synchronized (this) {
      if (closed) {
        return;
      }
      try {
        content = Files.readAllBytes(file);
      } catch (NoSuchFileException e) {
        problem(null, new InvalidMaterialException("the trust bundle file " + file + " does not exist (yet); is the"
            + " volume mounted?"));
        return;
      } catch (IOException e) {
        problem(null, new InvalidMaterialException("cannot read the trust bundle file " + file + ": " + e.getMessage(),
            e));
        return;
      }
      if (Arrays.equals(content, lastContent)) {
        return;
      }
      lastContent = content;
    }
    String what = "trust bundle file " + file;
    try {
      TrustBundle bundle = CaBundles.parse(new String(content, StandardCharsets.US_ASCII), what,
          "file " + file + "@sha256:" + shortDigest(content), clock.instant());
      if (publisher.publish(bundle)) {
        LOG.info("trust bundle from {}", bundle);
      }
    } catch (InvalidMaterialException e) {
      problem(content, new InvalidMaterialException(e.getMessage() + "; keeping the previous trust bundle", e));
    }
  }

  /** {@code content} null: the file could not be read. Each distinct state is reported once. */
  private void problem(byte[] content, MtlsException problem) {
    synchronized (this) {
      if (content == null) {
        if (lastContent == MISSING) {
          return;
        }
        lastContent = MISSING;
      }
    }
    LOG.warn("{}", problem.getMessage());
    publisher.reportProblem(problem);
  }

  private static String shortDigest(byte[] content) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content)).substring(0, 12);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }

  @Override
  public String toString() {
    return "FileTrustSource[" + file + "]";
  }
}
