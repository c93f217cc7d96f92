package dev.kubemtls.core.files;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.internal.MaterialChecks;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.Health;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link MaterialSource} whose identity is written to files by someone else: the kubelet's
 * {@code podCertificate} projected volume (Kubernetes 1.35, {@code PodCertificateRequest}), or any
 * tool that keeps a key and its certificate chain on disk. Trust comes from any
 * {@link TrustSource} (the signer's ConfigMap or ClusterTrustBundles through
 * {@code mtls-kubernetes}, or a projected bundle file through {@link FileTrustSource}).
 *
 * <p>Who holds what: the kubelet makes the key, has it certified, and writes key and chain into the
 * volume; it renews them itself. This source only reads. The private key is therefore on the
 * node's tmpfs, readable by the pod's containers, not only in this process's memory as in the CSR
 * mode of {@code mtls-kubernetes}.
 *
 * <p>When it changes: the files are read on the injected scheduler every
 * {@linkplain Builder#pollInterval poll interval} (two seconds by default; the kubelet starts a
 * renewal long before expiry, so seconds do not matter) and on every trust change. New content is
 * published only after every check passes: key and leaf belong together, the leaf is not a CA, the
 * chain is in order, the certificate is valid by the injected clock and chains to the trust bundle.
 * The kubelet replaces a projected volume's files in one atomic swap of a {@code ..data} symlink;
 * the two files of {@link #forKeyAndChain} are read from the same resolved directory, so a swap in
 * the middle of a read is noticed and the read repeated, and a writer that is not atomic is caught
 * by the key check. Anything unusable (a missing or half-written file, garbage, an expired or
 * foreign certificate) leaves the previous snapshot in service, is reported to
 * {@link Listener#onProblem} once per distinct content, and is read again at the next poll.
 */
public final class FileMaterialSource implements MaterialSource, Health, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FileMaterialSource.class);

  /** The largest file read: far above any key and chain. */
  static final int MAX_FILE_BYTES = 1 << 20;

  /** Told of problems with the files; material changes reach {@link MaterialSource#subscribe} listeners. */
  public interface Listener {
    /** The files or the trust bundle could not be used; the previous snapshot (if any) stays. */
    void onProblem(MtlsException problem);
  }

  private final Path bundleFile;
  private final Path keyFile;
  private final Path chainFile;
  private final TrustSource trustSource;
  private final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final Duration pollInterval;
  private final List<Listener> listeners = new CopyOnWriteArrayList<>();
  private final MaterialPublisher publisher = new MaterialPublisher();
  private final CompletableFuture<MtlsMaterial> first = new CompletableFuture<>();

  /**
   * Held for a whole read, publication included, so reads and what they tell listeners are serial;
   * never held by the methods a probe calls ({@link #isReady}, {@link #lastError}).
   */
  private final Object reading = new Object();
  // Guarded by reading.
  private byte[] lastContent;
  private TlsIdentity candidate;
  private long identityGeneration;
  private String lastReported;
  // Guarded by this.
  private MaterialSource.Subscription trustSubscription;
  private ScheduledFuture<?> poller;
  private boolean started;
  private volatile boolean closed;
  private volatile MtlsException lastProblem;

  private FileMaterialSource(Builder b) {
    this.bundleFile = b.bundleFile;
    this.keyFile = b.keyFile;
    this.chainFile = b.chainFile;
    this.trustSource = Objects.requireNonNull(b.trust, "trust source is required");
    this.clock = b.clock;
    this.scheduler = Objects.requireNonNull(b.scheduler, "scheduler is required");
    this.pollInterval = b.pollInterval;
  }

  /**
   * Reads one PEM file holding the private key followed by the certificate chain, leaf first (the
   * kubelet's {@code credentialBundlePath}).
   */
  public static Builder forCredentialBundle(Path credentialBundle) {
    return new Builder(Objects.requireNonNull(credentialBundle, "credentialBundle"), null, null);
  }

  /**
   * Reads the private key and the certificate chain (leaf first) from two files (the kubelet's
   * {@code keyPath} and {@code certificateChainPath}).
   */
  public static Builder forKeyAndChain(Path keyFile, Path chainFile) {
    return new Builder(null, Objects.requireNonNull(keyFile, "keyFile"), Objects.requireNonNull(chainFile, "chainFile"));
  }

  /**
   * Subscribes to the trust source and starts reading the files at once, then every poll interval.
   *
   * @return completes with the first published snapshot
   * @throws IllegalStateException if already started or closed
   */
  public CompletableFuture<MtlsMaterial> start() {
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("the file material source is closed");
      }
      if (started) {
        throw new IllegalStateException("the file material source was already started");
      }
      started = true;
      trustSubscription = trustSource.subscribe(new TrustSource.Listener() {
        @Override
        public void onBundle(TrustBundle bundle) {
          scheduler.execute(() -> refresh(true));
        }

        @Override
        public void onProblem(MtlsException problem) {
          scheduler.execute(() -> {
            synchronized (reading) {
              report(problem);
            }
          });
        }
      });
      poller = scheduler.scheduleWithFixedDelay(() -> refresh(false), 0, pollInterval.toNanos(), TimeUnit.NANOSECONDS);
      LOG.info("reading TLS material from {}", describeFiles());
    }
    return first.copy();
  }

  /** Adds a listener for problems with the files. */
  public void addListener(Listener listener) {
    listeners.add(Objects.requireNonNull(listener, "listener"));
  }

  @Override
  public MtlsMaterial current() {
    return publisher.current();
  }

  @Override
  public Optional<MtlsMaterial> currentIfReady() {
    return publisher.currentIfReady();
  }

  @Override
  public Subscription subscribe(MaterialListener listener) {
    return publisher.subscribe(listener);
  }

  @Override
  public boolean isReady() {
    Optional<MtlsMaterial> m = publisher.currentIfReady();
    return m.isPresent() && clock.instant().isBefore(m.get().identity().notAfter());
  }

  @Override
  public Optional<Duration> timeToExpiry() {
    return publisher.currentIfReady().map(m -> Duration.between(clock.instant(), m.identity().notAfter()));
  }

  @Override
  public Optional<Exception> lastError() {
    return Optional.ofNullable(lastProblem);
  }

  /** Stops reading. The last snapshot stays readable; the scheduler is not shut down. */
  @Override
  public void close() {
    MaterialSource.Subscription subscription;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      if (poller != null) {
        poller.cancel(false);
      }
      subscription = trustSubscription;
    }
    if (subscription != null) {
      subscription.close();
    }
    first.completeExceptionally(new IllegalStateException("the file material source was closed"));
  }

  // ---- reading ----

  private void refresh(boolean trustChanged) {
    MtlsMaterial published = null;
    synchronized (reading) {
      if (closed) {
        return;
      }
      try {
        byte[] content = readContent();
        if (!Arrays.equals(content, lastContent)) {
          lastContent = content;
          candidate = null;
          candidate = parse(content, identityGeneration + 1);
          identityGeneration = candidate.generation();
        } else if (!trustChanged && (candidate == null || publisher.currentIfReady()
            .map(m -> m.identity() == candidate).orElse(false))) {
          return; // nothing new: the same content as at the last poll, published or already reported
        }
        if (candidate == null) {
          return;
        }
        published = publishIfUsable(candidate);
      } catch (MtlsException e) {
        report(e);
      }
    }
    if (published != null) {
      first.complete(published);
    }
  }

  /** The files' bytes, read from one resolved directory when there are two files. */
  private byte[] readContent() {
    if (bundleFile != null) {
      return read(bundleFile);
    }
    for (int attempt = 0; attempt < 3; attempt++) {
      Path key = realPath(keyFile);
      Path chain = realPath(chainFile);
      if (Objects.equals(key.getParent(), chain.getParent()) || !sameLayout()) {
        byte[] k = read(key);
        byte[] c = read(chain);
        if (realPath(keyFile).equals(key) && realPath(chainFile).equals(chain)) {
          byte[] both = Arrays.copyOf(k, k.length + 1 + c.length);
          both[k.length] = '\n';
          System.arraycopy(c, 0, both, k.length + 1, c.length);
          return both;
        }
      }
      // A swap happened between the two reads: read both again from the new directory.
    }
    throw new InvalidMaterialException(describeFiles() + " changed on every read; will read them again");
  }

  /** Whether key and chain sit in one directory (as in a projected volume), so their real paths must agree. */
  private boolean sameLayout() {
    return Objects.equals(keyFile.toAbsolutePath().getParent(), chainFile.toAbsolutePath().getParent());
  }

  private static Path realPath(Path p) {
    try {
      return p.toRealPath();
    } catch (NoSuchFileException e) {
      throw new InvalidMaterialException(p + " does not exist (yet); is the podCertificate volume mounted and"
          + " has the kubelet written it?");
    } catch (IOException e) {
      throw new InvalidMaterialException("cannot resolve " + p + ": " + e.getMessage(), e);
    }
  }

  private static byte[] read(Path p) {
    try {
      long size = Files.size(p);
      if (size > MAX_FILE_BYTES) {
        throw new InvalidMaterialException(p + " is " + size + " bytes, more than the " + MAX_FILE_BYTES
            + " accepted for a key and certificate chain");
      }
      return Files.readAllBytes(p);
    } catch (NoSuchFileException e) {
      throw new InvalidMaterialException(p + " does not exist (yet); is the podCertificate volume mounted and"
          + " has the kubelet written it?");
    } catch (IOException e) {
      throw new InvalidMaterialException("cannot read " + p + ": " + e.getMessage(), e);
    }
  }

  /** Key first, then certificates, leaf first; no other block types. */
  private TlsIdentity parse(byte[] content, long generation) {
    String what = describeFiles();
    String text = new String(content, StandardCharsets.US_ASCII);
    List<Pem.Block> blocks = Pem.blocks(text, what);
    StringBuilder keyPem = new StringBuilder();
    StringBuilder chainPem = new StringBuilder();
    for (Pem.Block block : blocks) {
      if (block.type().endsWith("PRIVATE KEY")) {
        keyPem.append(Pem.encode(block.type(), block.der()));
      } else if (block.type().equals("CERTIFICATE")) {
        chainPem.append(Pem.encode(block.type(), block.der()));
      } else {
        throw new InvalidMaterialException(what + " holds a '" + block.type() + "' block; expected one private key"
            + " and the certificate chain");
      }
    }
    if (chainPem.length() == 0) {
      throw new InvalidMaterialException(what + " holds no certificate; expected the certificate chain, leaf first");
    }
    PrivateKey key = Pem.privateKey(keyPem.length() == 0 ? "" : keyPem.toString(), what);
    List<X509Certificate> chain = Pem.certificates(chainPem.toString(), what);
    TlsIdentity identity = new TlsIdentity(key, chain, generation);
    MaterialChecks.requireUsable(identity);
    return identity;
  }

  /** Holds {@code reading}. Publishes {@code identity} with the current trust, if it is valid now and chains to it. */
  private MtlsMaterial publishIfUsable(TlsIdentity identity) {
    Instant now = clock.instant();
    if (now.isBefore(identity.notBefore())) {
      throw new InvalidMaterialException(identity + " from " + describeFiles() + " is not valid before "
          + identity.notBefore() + " (check the node's and this pod's clocks)");
    }
    if (!now.isBefore(identity.notAfter())) {
      throw new InvalidMaterialException(identity + " from " + describeFiles() + " expired at " + identity.notAfter()
          + "; is the kubelet renewing it (kubectl get podcertificaterequests)?");
    }
    Optional<TrustBundle> trust = trustSource.currentIfReady();
    if (trust.isEmpty()) {
      throw new InvalidMaterialException("no trust bundle yet from " + trustSource + "; " + identity
          + " waits for one");
    }
    MaterialChecks.requireChainsTo(identity, trust.get(), now);
    Optional<MtlsMaterial> previous = publisher.currentIfReady();
    if (previous.isPresent() && previous.get().identity() == identity
        && previous.get().trust().certificates().equals(trust.get().certificates())) {
      return null;
    }
    MtlsMaterial next = new MtlsMaterial(identity, trust.get(), previous.map(m -> m.generation() + 1).orElse(1L));
    next.validate();
    lastProblem = null; // before listeners hear of the new snapshot, so they never see a stale problem
    lastReported = null;
    publisher.publish(next);
    LOG.info("published {} with {} from {}", identity, trust.get(), describeFiles());
    return next;
  }

  /** Holds {@code reading}, so problems reach listeners one at a time and in order. */
  private void report(MtlsException problem) {
    lastProblem = problem;
    if (problem.getMessage().equals(lastReported)) {
      return;
    }
    lastReported = problem.getMessage();
    LOG.warn("{}; keeping the TLS material in use", problem.getMessage());
    for (Listener l : listeners) {
      try {
        l.onProblem(problem);
      } catch (RuntimeException e) {
        LOG.warn("a file material listener failed", e);
      }
    }
  }

  private String describeFiles() {
    return bundleFile != null ? "credential bundle " + bundleFile : "key " + keyFile + " and chain " + chainFile;
  }

  @Override
  public String toString() {
    return "FileMaterialSource[" + describeFiles() + "]";
  }

  /** Options of a {@link FileMaterialSource}; the trust source and the scheduler are required. */
  public static final class Builder {
    private final Path bundleFile;
    private final Path keyFile;
    private final Path chainFile;
    private TrustSource trust;
    private InstantSource clock = InstantSource.system();
    private ScheduledExecutorService scheduler;
    private Duration pollInterval = Duration.ofSeconds(2);

    private Builder(Path bundleFile, Path keyFile, Path chainFile) {
      this.bundleFile = bundleFile;
      this.keyFile = keyFile;
      this.chainFile = chainFile;
    }

    /** The CAs that the certificate must chain to and that peers are checked against (required). */
    public Builder trust(TrustSource trust) {
      this.trust = Objects.requireNonNull(trust, "trust");
      return this;
    }

    /** The clock for validity checks; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Runs the reads (required); not shut down by the source. */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
      return this;
    }

    /** How often the files are read; two seconds by default, between 10 ms and 10 minutes. */
    public Builder pollInterval(Duration interval) {
      Objects.requireNonNull(interval, "interval");
      if (interval.compareTo(Duration.ofMillis(10)) < 0 || interval.compareTo(Duration.ofMinutes(10)) > 0) {
        throw new IllegalArgumentException("pollInterval must be between 10 ms and 10 minutes, was " + interval);
      }
      this.pollInterval = interval;
      return this;
    }

    /** @throws NullPointerException naming a required option that is missing */
    public FileMaterialSource build() {
      return new FileMaterialSource(this);
    }
  }
}
