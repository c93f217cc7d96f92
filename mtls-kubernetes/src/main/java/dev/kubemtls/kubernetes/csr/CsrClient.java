package dev.kubemtls.kubernetes.csr;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.rotation.IssuanceProgress;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One issuer's CertificateSigningRequests on the API server: create, read, wait and delete, and
 * what happens to a request nobody waits on any more. It knows the API object and its lifecycle, not
 * what a request asks for ({@link CertificateIssuer} builds requests and checks what comes back).
 *
 * <p>A wait ({@link Wait}) watches its one CSR by name ({@link WatchOne}) and reads its conditions:
 * Denied and Failed end it with the approver's or signer's reason, a changed UID or a deletion ends
 * it as failed, Approved is reported once, and a non-empty {@code status.certificate} ends it.
 *
 * <p>The deletion policy: with {@code deleteRequests} each request is deleted once issued or given
 * up (timed out, watch refused, interrupted); without it nothing is deleted, and one given-up
 * request that is still usable is remembered (name, UID, key, identity, creation; in memory only)
 * for the next attempt to resume. Denied and failed requests are never deleted here.
 */
final class CsrClient {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateIssuer.class);

  /**
   * A request an attempt gave up on while it was still usable, kept for the next attempt. The key
   * lives here, in memory only, as it does during a wait.
   */
  record PendingRequest(String name, String uid, KeyPair keyPair, WorkloadIdentity identity, Instant created) {
    @Override
    public String toString() {
      return "PendingRequest[" + name + ", uid=" + uid + ", created=" + created + "]"; // never the key
    }
  }

  private final KubernetesClient client;
  private final String signerName;
  private final InstantSource clock;
  private final Duration timeout;
  private final boolean deleteRequests;
  private final AtomicReference<PendingRequest> remembered = new AtomicReference<>();
  private final java.util.function.Supplier<String> nameSuffixes;

  CsrClient(KubernetesClient client, String signerName, InstantSource clock, Duration timeout,
      boolean deleteRequests) {
    this(client, signerName, clock, timeout, deleteRequests, CsrClient::randomSuffix);
  }

  /** With the suffixes of the request names from {@code nameSuffixes} (tests: a name that is taken). */
  CsrClient(KubernetesClient client, String signerName, InstantSource clock, Duration timeout,
      boolean deleteRequests, java.util.function.Supplier<String> nameSuffixes) {
    this.nameSuffixes = nameSuffixes;
    this.client = client;
    this.signerName = signerName;
    this.clock = clock;
    this.timeout = timeout;
    this.deleteRequests = deleteRequests;
  }

  /**
   * Creates {@code csr} and starts a wait on it, reporting the submission and the wait for approval.
   * The request is created under a name chosen here (its {@code generateName} and eight random
   * characters), so that the watch on it is opened while it is created rather than after; should the
   * name be taken, it is created again under a name the API server generates, and watched after.
   */
  Wait submit(CertificateSigningRequest csr, KeyPair keyPair, WorkloadIdentity identity, Instant deadline,
      Consumer<IssuanceProgress> progress) throws InterruptedException {
    report(progress, new IssuanceProgress("", IssuanceProgress.Stage.SUBMITTING, clock.instant(),
        "creating a CertificateSigningRequest for signer " + signerName));
    String prefix = csr.getMetadata().getGenerateName();
    String chosen = (prefix == null ? "kube-mtls-" : prefix) + nameSuffixes.get();
    Wait wait = new Wait(chosen, deadline, progress, "");
    wait.watch.watchAhead(AHEAD);
    CertificateSigningRequest created;
    try {
      created = create(new CertificateSigningRequestBuilder(csr).editMetadata().withName(chosen)
          .withGenerateName(null).endMetadata().build());
    } catch (KubernetesClientException e) {
      wait.watch.dropAhead();
      if (e.getCode() != 409) {
        throw createFailed(e);
      }
      LOG.info("CertificateSigningRequest name {} is taken; letting the API server generate one", chosen);
      try {
        created = create(csr);
      } catch (KubernetesClientException again) {
        throw createFailed(again);
      }
      wait = null;
    } catch (RuntimeException e) {
      wait.watch.dropAhead();
      throw e;
    }
    String name = created.getMetadata().getName();
    LOG.info("Created CertificateSigningRequest {} for {} with signer {}", name, identity.spiffeId(), signerName);
    PendingRequest request = new PendingRequest(name, created.getMetadata().getUid(), keyPair, identity,
        creationOf(created));
    if (wait == null) {
      wait = new Wait(request, created.getMetadata().getResourceVersion(), null, deadline, progress, "");
    } else {
      wait.created(request, created.getMetadata().getResourceVersion());
    }
    report(progress, new IssuanceProgress(name, IssuanceProgress.Stage.AWAITING_APPROVAL, clock.instant(),
        waitingForApproval(name)));
    return wait;
  }

  private CertificateSigningRequest create(CertificateSigningRequest csr) {
    return client.certificates().v1().certificateSigningRequests().resource(csr).create();
  }

  private MtlsException createFailed(KubernetesClientException e) throws InterruptedException {
    WatchOne.rethrowIfInterrupted(e);
    String hint = e.getCode() == 403
        ? " (the workload's ServiceAccount needs create, get and watch on"
            + " certificatesigningrequests.certificates.k8s.io)"
        : "";
    return new MtlsException("could not create a CertificateSigningRequest for signer " + signerName
        + " (HTTP " + e.getCode() + ")" + hint + ": " + e.getMessage(), e);
  }

  /** The API server's alphabet for generated names (no vowels), eight of them: about 2^38 names. */
  private static final String NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
  private static final java.security.SecureRandom NAMES = new java.security.SecureRandom();

  private static String randomSuffix() {
    char[] out = new char[8];
    for (int i = 0; i < out.length; i++) {
      out[i] = NAME_ALPHABET.charAt(NAMES.nextInt(NAME_ALPHABET.length()));
    }
    return new String(out);
  }

  /**
   * Opens the watches ahead of their creates; shared by every issuer of the JVM. Its daemon threads
   * only wait for a watch to open (milliseconds) and end a second after their last one.
   */
  private static final java.util.concurrent.ExecutorService AHEAD = aheadExecutor();

  private static java.util.concurrent.ExecutorService aheadExecutor() {
    java.util.concurrent.atomic.AtomicInteger n = new java.util.concurrent.atomic.AtomicInteger();
    return new java.util.concurrent.ThreadPoolExecutor(0, Integer.MAX_VALUE, 1, java.util.concurrent.TimeUnit.SECONDS,
        new java.util.concurrent.SynchronousQueue<>(), r -> {
          Thread t = new Thread(r, "kube-mtls-csr-watch-" + n.incrementAndGet());
          t.setDaemon(true);
          return t;
        });
  }

  /** Takes the remembered request, if any: exactly one caller gets it. */
  PendingRequest takeRemembered() {
    return remembered.getAndSet(null);
  }

  /**
   * Starts a wait on a remembered request as it stands now, or returns null when it is gone or
   * replaced (make a new one). Its current state is judged first: Denied or Failed throw as in any
   * wait, an issued certificate ends the wait at once.
   */
  Wait resume(PendingRequest pending, Instant deadline, Consumer<IssuanceProgress> progress)
      throws InterruptedException {
    CertificateSigningRequest current;
    try {
      current = client.certificates().v1().certificateSigningRequests().withName(pending.name()).get();
    } catch (KubernetesClientException e) {
      remember(pending); // still worth waiting on; this attempt cannot tell
      WatchOne.rethrowIfInterrupted(e);
      throw new MtlsException("could not re-read CertificateSigningRequest " + pending.name() + " to resume it (HTTP "
          + e.getCode() + "): " + e.getMessage(), e);
    }
    if (current == null) {
      LOG.info("CertificateSigningRequest {} was deleted while no attempt waited on it; making a new request",
          pending.name());
      return null;
    }
    if (!pending.uid().equals(current.getMetadata().getUid())) {
      LOG.info("CertificateSigningRequest {} was replaced by another object with the same name while no attempt"
          + " waited on it; making a new request", pending.name());
      return null;
    }
    boolean approved = isTrue(current, "Approved");
    String note = "resumed CertificateSigningRequest " + pending.name() + " (pending since " + pending.created()
        + "); ";
    if (!isTrue(current, "Denied") && !isTrue(current, "Failed")) { // those the wait reports, as in any wait
      LOG.info("Resuming CertificateSigningRequest {} for {} (pending since {}, {})", pending.name(),
          pending.identity().spiffeId(), pending.created(), approved ? "approved, not yet signed" : "not yet approved");
      if (!approved) {
        report(progress, new IssuanceProgress(pending.name(), IssuanceProgress.Stage.AWAITING_APPROVAL,
            pending.created(), note + waitingForApproval(pending.name())));
      }
    }
    return new Wait(pending, current.getMetadata().getResourceVersion(), current, deadline, progress, note);
  }

  /** Drops a remembered request that is no longer worth resuming (deleted, with deleteRequests). */
  void forget(PendingRequest pending, String why) {
    LOG.info("Not resuming CertificateSigningRequest {} ({}); making a new request", pending.name(), why);
    abandon(pending.name(), why);
  }

  /** A request whose certificate was issued and validated: deleted with deleteRequests, else left. */
  void done(String name) {
    if (deleteRequests) {
      delete(name, "issued");
    } else {
      LOG.debug("CertificateSigningRequest {} is issued and left for the cluster's CSR cleaner (an hour after"
          + " approval)", name);
    }
  }

  private void remember(PendingRequest pending) {
    if (!remembered.compareAndSet(null, pending)) {
      // A concurrent attempt gave up on its own request first: one remembered request is enough.
      abandon(pending.name(), "another request is already kept for the next attempt");
    }
  }

  /**
   * Gives up a request that was not issued: deletes it if allowed to, otherwise says what is left
   * behind. Runs with the interrupt flag clear (an interrupted wait has consumed it).
   */
  private void abandon(String name, String why) {
    if (deleteRequests) {
      delete(name, "abandoned: " + why);
      return;
    }
    LOG.warn("Giving up CertificateSigningRequest {} ({}); it stays because this issuer does not delete"
        + " requests (deleteRequests is off). The cluster's CSR cleaner removes it 24 hours after its creation"
        + " (or approval, if approved and never signed); an approver that acts on it later issues a certificate for"
        + " a key that no longer exists, which does no harm", name, why);
  }

  private void delete(String name, String why) {
    try {
      client.certificates().v1().certificateSigningRequests().withName(name).delete();
      LOG.info("Deleted CertificateSigningRequest {} ({})", name, why);
    } catch (KubernetesClientException e) {
      if (Thread.currentThread().isInterrupted()) {
        return; // interrupted again while deleting: the cluster's CSR cleaner removes it
      }
      LOG.warn("Could not delete CertificateSigningRequest {} ({}; HTTP {}{}); it is left for the cluster's CSR"
          + " cleaner", name, why, e.getCode(), e.getCode() == 403
              ? ": deleteRequests(true) needs delete on certificatesigningrequests, the ClusterRole"
                  + " kube-mtls-workload-csr-cleanup" : "");
    }
  }

  private static boolean isTrue(CertificateSigningRequest csr, String type) {
    var status = csr.getStatus();
    return status != null && status.getConditions() != null && status.getConditions().stream()
        .anyMatch(c -> type.equals(c.getType()) && "True".equals(c.getStatus()));
  }

  private static Instant creationOf(CertificateSigningRequest csr) {
    String ts = csr.getMetadata().getCreationTimestamp();
    try {
      return ts == null ? null : Instant.parse(ts);
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  private String waitingForApproval(String name) {
    return "is the kube-mtls signer running and does it serve signerName " + signerName + "? 'kubectl describe csr "
        + name + "', 'kubectl -n kube-mtls get pods,lease'";
  }

  private String waitingForSignature(String name) {
    return "is the signer for " + signerName + " running and able to sign (its CA"
        + " loaded, it leads)? 'kubectl describe csr " + name + "', the signer's log";
  }

  private static void report(Consumer<IssuanceProgress> progress, IssuanceProgress p) {
    try {
      progress.accept(p);
    } catch (RuntimeException e) {
      LOG.warn("an issuance progress listener failed", e);
    }
  }

  /** A wait on one request until it is issued; what it gives up it deletes or remembers. */
  final class Wait implements WatchOne.Judge<CertificateSigningRequest>, WatchOne.Api<CertificateSigningRequest> {
    // Set before run(), by the thread that runs it: at construction, or by created() for a wait whose
    // watch was opened ahead of the create.
    private PendingRequest request;
    private final String name;
    private final Consumer<IssuanceProgress> progress;
    private final String note;
    private final WatchOne<CertificateSigningRequest> watch;
    private volatile boolean approved;

    private Wait(PendingRequest request, String resourceVersion, CertificateSigningRequest first, Instant deadline,
        Consumer<IssuanceProgress> progress, String note) {
      this.request = request;
      this.name = request.name();
      this.progress = progress;
      this.note = note;
      this.watch = new WatchOne<>("CertificateSigningRequest " + name, this, this, clock, deadline, resourceVersion,
          first);
    }

    /** A wait on a request about to be created under {@code name}; {@link #created} completes it. */
    private Wait(String name, Instant deadline, Consumer<IssuanceProgress> progress, String note) {
      this.name = name;
      this.progress = progress;
      this.note = note;
      this.watch = new WatchOne<>("CertificateSigningRequest " + name, this, this, clock, deadline, null, null);
    }

    private void created(PendingRequest created, String resourceVersion) {
      this.request = created;
      watch.createdAt(resourceVersion);
    }

    PendingRequest request() {
      return request;
    }

    /**
     * Waits until the request is issued and returns it. A wait that ends otherwise on a request that
     * is still usable (timed out, failed to watch, interrupted) deletes it with deleteRequests and
     * otherwise remembers it; Denied and Failed are kept as evidence and never remembered.
     */
    CertificateSigningRequest run() throws InterruptedException {
      try {
        return watch.run();
      } catch (InterruptedException e) {
        giveUp("the wait was interrupted (the certificate manager was closed)");
        throw e;
      } catch (CertificateDeniedException | CertificateFailedException e) {
        throw e; // kept as evidence, or already gone; never remembered
      } catch (RuntimeException e) {
        giveUp(e instanceof IssuanceTimeoutException ? "its wait timed out" : "the wait failed");
        throw e;
      }
    }

    private void giveUp(String why) {
      if (deleteRequests) {
        delete(name, "abandoned: " + why);
        return;
      }
      LOG.info("Giving up the wait on CertificateSigningRequest {} ({}); it stays {} and the next attempt resumes it"
          + " rather than making another", name, why, approved ? "approved and unsigned" : "pending");
      remember(request);
    }

    @Override
    public CertificateSigningRequest get() {
      return client.certificates().v1().certificateSigningRequests().withName(name).get();
    }

    @Override
    public Watch watch(String resourceVersion, Watcher<CertificateSigningRequest> watcher) {
      return client.certificates().v1().certificateSigningRequests().withField("metadata.name", name)
          .watch(new ListOptionsBuilder().withResourceVersion(resourceVersion).withAllowWatchBookmarks(true).build(),
              watcher);
    }

    @Override
    public Optional<CertificateSigningRequest> observe(CertificateSigningRequest csr) {
      if (!request.uid().equals(csr.getMetadata().getUid())) {
        LOG.warn("CertificateSigningRequest {} was replaced by another object with the same name", name);
        throw new CertificateFailedException(name, "Replaced", "the request was deleted and replaced by"
            + " another object with the same name (uid " + csr.getMetadata().getUid() + ", ours was "
            + request.uid() + ")");
      }
      var status = csr.getStatus();
      List<CertificateSigningRequestCondition> conditions =
          status == null || status.getConditions() == null ? List.of() : status.getConditions();
      for (CertificateSigningRequestCondition c : conditions) {
        if (!"True".equals(c.getStatus())) {
          continue;
        }
        if ("Denied".equals(c.getType())) {
          LOG.warn("CertificateSigningRequest {} was denied: {}: {}", name, c.getReason(), c.getMessage());
          throw new CertificateDeniedException(name, c.getReason(), c.getMessage());
        }
        if ("Failed".equals(c.getType())) {
          LOG.warn("CertificateSigningRequest {} failed: {}: {}", name, c.getReason(), c.getMessage());
          throw new CertificateFailedException(name, c.getReason() == null || c.getReason().isBlank()
              ? "Failed" : c.getReason(), c.getMessage() == null ? "" : c.getMessage());
        }
      }
      if (isTrue(csr, "Approved") && !approved) {
        approved = true;
        LOG.info("CertificateSigningRequest {} was approved; waiting for the signer", name);
        report(progress, new IssuanceProgress(name, IssuanceProgress.Stage.AWAITING_SIGNATURE, clock.instant(),
            note + waitingForSignature(name)));
      }
      if (status != null && status.getCertificate() != null && !status.getCertificate().isEmpty()) {
        return Optional.of(csr);
      }
      return Optional.empty();
    }

    @Override
    public RuntimeException deleted() {
      LOG.warn("CertificateSigningRequest {} was deleted before it was issued", name);
      return new CertificateFailedException(name, "Deleted", "the request was deleted before a certificate"
          + " was issued");
    }

    @Override
    public RuntimeException timedOut() {
      IssuanceTimeoutException.Stage stage = approved
          ? IssuanceTimeoutException.Stage.SIGNATURE : IssuanceTimeoutException.Stage.APPROVAL;
      LOG.warn("CertificateSigningRequest {} timed out after {} waiting for {}", name, timeout, stage);
      return new IssuanceTimeoutException(name, signerName, stage, timeout);
    }

    @Override
    public RuntimeException forbidden(KubernetesClientException e) {
      return new MtlsException("not allowed to watch CertificateSigningRequest " + name + " (the workload's"
          + " ServiceAccount needs get and watch on certificatesigningrequests.certificates.k8s.io)", e);
    }
  }
}
