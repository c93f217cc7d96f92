package dev.kubemtls.core.files;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.internal.Pairing;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.CertificateManager;
import dev.kubemtls.core.rotation.Health;
import dev.kubemtls.core.rotation.ManagerListener;
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
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
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
 * renewal long before expiry, so seconds do not matter). New content is published only after every
 * check passes: key and leaf belong together, the leaf is not a CA, the chain is in order, the
 * certificate is valid by the injected clock and chains to the trust bundle.
 * The kubelet replaces a projected volume's files in one atomic swap of a {@code ..data} symlink;
 * the two files of {@link #forKeyAndChain} are read from the same resolved directory, so a swap in
 * the middle of a read is noticed and the read repeated, and a writer that is not atomic is caught
 * by the key check. Anything unusable (a missing or half-written file, garbage, an expired or
 * foreign certificate) leaves the previous snapshot in service, is reported once per distinct
 * problem, and is read again at the next poll.
 *
 * <p>Identity and trust are paired exactly as a {@link CertificateManager} pairs them (one rule
 * set, in one place): a new bundle that the served certificate does not chain to is held, not
 * published, until the kubelet writes a certificate that chains to it, which is then published
 * together with it; content refused for its trust is tried again when the bundle changes.
 *
 * <p>What it reports, through the {@link ManagerListener} of {@link Builder#listener} (so metrics
 * and Pod Events see a file-backed workload as they see a {@link CertificateManager}): {@code
 * issued} for every usable new identity read, then {@code ready} (the first snapshot) or {@code
 * rotated}, and {@code recovered} after an expiry; {@code renewalFailed} for content refused, with
 * the next poll as the next attempt; {@code expired} when the clock passes the served
 * certificate's {@code notAfter}; {@code trustChanged} and {@code trustRejected} for the trust
 * bundle. {@code renewalScheduled}, {@code denied} and {@code gaveUp} are never reported: the
 * kubelet, not this source, decides when to renew. Calls are made one at a time, in order, on the
 * scheduler's thread that read the change, after material listeners were told of the snapshot.
 */
public final class FileMaterialSource implements MaterialSource, Health, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(FileMaterialSource.class);

  /** The largest file read: far above any key and chain. */
  static final int MAX_FILE_BYTES = 1 << 20;

  private final Path bundleFile;
  private final Path keyFile;
  private final Path chainFile;
  private final TrustSource trustSource;
  private final InstantSource clock;
  private final ScheduledExecutorService scheduler;
  private final Duration pollInterval;
  private final ManagerListener listener;
  private final MaterialPublisher publisher = new MaterialPublisher();
  private final CompletableFuture<MtlsMaterial> first = new CompletableFuture<>();

  /**
   * Held for a whole read, publication included, so reads and what they tell listeners are serial;
   * never held by the methods a probe calls ({@link #isReady}, {@link #lastError}).
   */
  private final Object reading = new Object();
  // Guarded by reading.
  private byte[] lastContent;
  private long identityGeneration;
  private String lastReported;
  private int failures;
  /** The bundle the served snapshot (or the next) pairs with; null until one arrived. */
  private TrustBundle trust;
  /** A newer bundle the served identity does not chain to, until a new identity chains to it. */
  private TrustBundle held;
  /** An identity read while there was no trust bundle yet. */
  private TlsIdentity pending;
  /** The last identity refused by the pairing: offered again when the trust changes. */
  private TlsIdentity refused;
  private Instant expiredAt;
  private MtlsMaterial firstPublished;
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
    this.listener = b.listener;
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
          scheduler.execute(() -> onTrustBundle(bundle));
        }

        @Override
        public void onProblem(MtlsException problem) {
          scheduler.execute(() -> {
            synchronized (reading) {
              if (!closed) {
                LOG.warn("trust source problem, keeping the bundle in use: {}", problem.getMessage());
                tell(l -> l.trustRejected(problem));
              }
            }
          });
        }
      });
      synchronized (reading) {
        trustSource.currentIfReady().ifPresent(b -> trust = b);
      }
      poller = scheduler.scheduleWithFixedDelay(this::poll, 0, pollInterval.toNanos(), TimeUnit.NANOSECONDS);
      LOG.info("reading TLS material from {}", describeFiles());
    }
    return first.copy();
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

  /** One poll: reports an expiry that is due, then reads the files and offers new content. */
  private void poll() {
    MtlsMaterial announced;
    synchronized (reading) {
      if (closed) {
        return;
      }
      reportExpiryIfDue(clock.instant());
      try {
        byte[] content = readContent();
        if (Arrays.equals(content, lastContent)) {
          return; // nothing new: the same content as at the last poll, published or already reported
        }
        lastContent = content;
        refused = null;
        TlsIdentity identity = parse(content, identityGeneration + 1);
        identityGeneration = identity.generation();
        offer(identity);
      } catch (MtlsException e) {
        refuse(e);
      }
      announced = takeFirst();
    }
    if (announced != null) {
      first.complete(announced);
    }
  }

  /** Holds {@code reading}. A new identity from the files, paired with trust by {@link Pairing}. */
  private void offer(TlsIdentity identity) {
    Instant now = clock.instant();
    if (now.isBefore(identity.notBefore())) {
      refuse(new InvalidMaterialException(identity + " from " + describeFiles() + " is not valid before "
          + identity.notBefore() + " (check the node's and this pod's clocks)"));
      return;
    }
    if (!now.isBefore(identity.notAfter())) {
      refuse(new InvalidMaterialException(identity + " from " + describeFiles() + " expired at "
          + identity.notAfter() + "; is the kubelet renewing it (kubectl get podcertificaterequests)?"));
      return;
    }
    Pairing.Decision decision = Pairing.issued(identity, identity.generation(), publisher.currentIfReady().orElse(null),
        trust, held, now);
    if (decision instanceof Pairing.Refuse refuse) {
      refused = identity; // tried again when the trust changes: the kubelet may have renewed onto a new CA first
      refuse(refuse.reason());
      return;
    }
    refused = null;
    tell(l -> l.issued(identity, Duration.ZERO));
    if (decision instanceof Pairing.AwaitTrust) {
      pending = identity;
      succeeded();
      LOG.info("read {} from {}; waiting for a trust bundle from {} before publishing it", identity, describeFiles(),
          trustSource);
      return;
    }
    Pairing.Publish publish = (Pairing.Publish) decision;
    publishIdentity(publish.material(), publish.adoptsHeld(), now);
  }

  /** Holds {@code reading}. Publishes a snapshot of a new identity that {@link Pairing} found fit. */
  private void publishIdentity(MtlsMaterial next, boolean adoptsHeld, Instant now) {
    MtlsMaterial previous = publisher.currentIfReady().orElse(null);
    TrustBundle previousTrust = trust;
    Instant wasExpiredAt = expiredAt;
    trust = next.trust();
    pending = null;
    succeeded();
    publisher.publish(next);
    if (previous == null) {
      LOG.info("ready: published {} with {} from {}", next.identity(), next.trust(), describeFiles());
      tell(l -> l.ready(next));
      firstPublished = next;
    } else {
      LOG.info("rotated to {} from {}", next.identity(), describeFiles());
      tell(l -> l.rotated(previous, next));
    }
    if (wasExpiredAt != null) {
      Duration downtime = Duration.between(wasExpiredAt, now);
      LOG.info("recovered after {} without a valid certificate", downtime);
      tell(l -> l.recovered(next, downtime));
    }
    if (adoptsHeld) {
      held = null;
      LOG.info("adopted the held trust bundle {} together with the renewed identity", next.trust());
      tell(l -> l.trustChanged(previousTrust, next.trust()));
    }
  }

  /** A new bundle from the trust source, paired with the served identity by {@link Pairing}. */
  private void onTrustBundle(TrustBundle bundle) {
    MtlsMaterial announced;
    synchronized (reading) {
      if (closed) {
        return;
      }
      applyTrust(bundle, clock.instant());
      announced = takeFirst();
    }
    if (announced != null) {
      first.complete(announced);
    }
  }

  /** Holds {@code reading}. */
  private void applyTrust(TrustBundle bundle, Instant now) {
    Optional<MtlsMaterial> served = publisher.currentIfReady();
    if (served.isEmpty()) {
      trust = bundle;
      held = null;
      TlsIdentity waiting = pending;
      if (waiting != null) {
        pending = null;
        Pairing.Decision decision = Pairing.firstTrust(waiting, bundle, now);
        if (decision instanceof Pairing.Publish publish) {
          publishIdentity(publish.material(), false, now);
        } else {
          refuse(((Pairing.Refuse) decision).reason());
        }
        return;
      }
    } else {
      MtlsMaterial material = served.get();
      Pairing.Decision decision = Pairing.trustChanged(material, bundle, now);
      if (decision instanceof Pairing.Unchanged) {
        if (held != null) {
          LOG.info("the trust source is back to the bundle in use; dropping the held bundle {}", held);
          held = null;
        }
      } else if (decision instanceof Pairing.Hold hold) {
        held = hold.bundle();
        LOG.warn("{}", hold.reason().getMessage());
        tell(l -> l.trustRejected(hold.reason()));
      } else if (decision instanceof Pairing.Refuse refuse) {
        LOG.warn("{}; keeping the trust bundle in use", refuse.reason().getMessage());
        tell(l -> l.trustRejected(refuse.reason()));
        return;
      } else {
        MtlsMaterial next = ((Pairing.Publish) decision).material();
        trust = bundle;
        held = null;
        publisher.publish(next);
        LOG.info("trust bundle changed to {}", bundle);
        tell(l -> l.trustChanged(material.trust(), bundle));
      }
    }
    TlsIdentity again = refused;
    if (again != null) {
      offer(again);
    }
  }

  /** Holds {@code reading}. Reports the expiry of the published identity once, if {@code now} is past it. */
  private void reportExpiryIfDue(Instant now) {
    Optional<MtlsMaterial> m = publisher.currentIfReady();
    if (m.isEmpty() || expiredAt != null || now.isBefore(m.get().identity().notAfter())) {
      return;
    }
    TlsIdentity identity = m.get().identity();
    expiredAt = identity.notAfter();
    LOG.error("certificate expired: {}; not ready until {} holds a valid one", identity, describeFiles());
    tell(l -> l.expired(identity));
  }

  /** Holds {@code reading}. */
  private void succeeded() {
    failures = 0;
    lastProblem = null; // before listeners hear of the new snapshot, so they never see a stale problem
    lastReported = null;
    expiredAt = null;
  }

  /** Holds {@code reading}. The first snapshot, once, to complete {@link #start}'s future outside the lock. */
  private MtlsMaterial takeFirst() {
    MtlsMaterial m = firstPublished;
    firstPublished = null;
    return m;
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
        byte[] k;
        byte[] c;
        try {
          k = read(key);
          c = read(chain);
        } catch (InvalidMaterialException e) {
          // The kubelet removes the old version's directory right after it swaps the link: a read of
          // the directory resolved before the swap then finds nothing. Read the new one; a file that
          // is missing from the current version is reported.
          if (realPath(keyFile).equals(key) && realPath(chainFile).equals(chain)) {
            throw e;
          }
          continue;
        }
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
    return new TlsIdentity(key, chain, generation);
  }

  /**
   * Holds {@code reading}. Refused content is reported once per distinct problem, as
   * {@link ManagerListener#renewalFailed} with the next poll as the next attempt.
   */
  private void refuse(MtlsException problem) {
    lastProblem = problem;
    if (problem.getMessage().equals(lastReported)) {
      return;
    }
    lastReported = problem.getMessage();
    int attempt = ++failures;
    Instant next = clock.instant().plus(pollInterval);
    LOG.warn("{}; keeping the TLS material in use", problem.getMessage());
    tell(l -> l.renewalFailed(problem, attempt, next));
  }

  /** Holds {@code reading}, so listeners are told one at a time and in order. */
  private void tell(Consumer<ManagerListener> call) {
    try {
      call.accept(listener);
    } catch (RuntimeException e) {
      LOG.warn("a manager listener of {} failed", this, e);
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
    private ManagerListener listener = ManagerListener.NO_OP;

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

    /**
     * Told what happens to the material, with the events of a {@link CertificateManager} (see the
     * class documentation); combine several with {@link ManagerListener#all}. None by default.
     */
    public Builder listener(ManagerListener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** @throws NullPointerException naming a required option that is missing */
    public FileMaterialSource build() {
      return new FileMaterialSource(this);
    }
  }
}
