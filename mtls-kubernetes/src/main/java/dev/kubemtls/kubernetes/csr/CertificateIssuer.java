package dev.kubemtls.kubernetes.csr;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.rotation.IdentityIssuer;
import dev.kubemtls.core.rotation.IssuanceProgress;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.internal.IssuedCertificateValidator;
import dev.kubemtls.kubernetes.internal.Pkcs10;
import dev.kubemtls.core.names.SignerNames;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Obtains a workload certificate from the Kubernetes certificates.k8s.io/v1 API: the requesting
 * half of kube-mtls, the Java counterpart of client-go's certificate manager.
 *
 * <p>Each {@link #issue(long)} (unless it resumes a remembered request, see below) generates a fresh
 * key pair in memory, submits a PKCS#10 request as a
 * {@code CertificateSigningRequest} (generated name {@code kube-mtls-<serviceAccount>-…}, the
 * configured signerName, the usages of the {@link Role}, {@code expirationSeconds}), then watches
 * that one object until an approver and a signer have acted. The watch resumes from the last seen
 * resourceVersion after a dropped connection, and re-reads the object if history has been
 * compacted, so no outcome is missed. What the signer wrote into {@code status.certificate} is
 * untrusted: it is checked against the key, the requested names and usages, the clock and, when
 * configured, the trust bundle before a {@link TlsIdentity} is returned.
 *
 * <p>What is left behind: by default the issuer deletes nothing. Kubernetes garbage-collects CSRs
 * (kube-controller-manager's CSR cleaner, every hour): an issued one an hour after its approval, a
 * denied or failed one an hour after that condition, a pending one 24 hours after it was created,
 * an approved one that was never issued 24 hours after its approval. Denied and failed requests are
 * the evidence for {@code kubectl describe csr} and are never deleted here. With
 * {@link Builder#deleteRequests(boolean) deleteRequests(true)} the issuer also deletes each request
 * it is done with: issued and validated, or abandoned (its wait timed out, the watch was refused,
 * or the calling thread was interrupted, which is how a closing manager stops it), so that
 * abandoned requests do not pile up during a signer outage.
 *
 * <p>Resuming instead of piling up: without {@code deleteRequests}, an attempt that gives up on a
 * request that is still usable (pending, or approved and not yet signed; not denied, failed,
 * deleted or replaced) does not forget it. The issuer remembers that one request (its name, UID,
 * the identity it asked for and its private key, in memory only) and the next {@code issue} call
 * watches the same CSR again instead of creating another, so a signer outage leaves one pending
 * CSR per issuer rather than one per attempt. It resumes only while the request is worth waiting
 * on: it still exists with the same UID, is neither Denied nor Failed (those are reported once, as
 * {@link CertificateDeniedException} / {@link CertificateFailedException}, and forgotten), asks for
 * the identity the issuer asks for now, and is young enough: younger than the requested lifetime
 * (the key would otherwise be older than one certificate lifetime before its certificate starts),
 * and young enough that this attempt's whole wait ends an hour before the cluster's CSR cleaner may
 * remove a pending request (24 hours after creation, by the API server's clock; the hour covers
 * clock skew and the cleaner's hourly pass). Otherwise the issuer makes a new request. With
 * {@code deleteRequests} nothing is remembered: a given-up request is deleted as before, so none
 * pile up either. The returned identity always carries the generation the completing call asked
 * for.
 *
 * <p>The workload's ServiceAccount needs {@code create}, {@code get} and {@code watch} on
 * {@code certificatesigningrequests.certificates.k8s.io} (the watch names its one object with the
 * field selector {@code metadata.name}, which the API server authorizes as a {@code watch} of that
 * name, so no {@code list}); deleting needs {@code delete}, which RBAC can only grant on every CSR
 * of the cluster (the names are generated, so {@code resourceNames} cannot pin them): grant it only
 * where that is acceptable. Approval and signing are somebody else's job (the kube-mtls signer);
 * the API server records the requester's identity, which is what the approver trusts.
 *
 * <p>An issuer is thread-safe. Its configuration is immutable; its only state is the one remembered
 * request, which exactly one call takes over at a time: a concurrent call that finds none remembered
 * makes its own request, and if two calls give up at once only one request is remembered (the other
 * is left for the cleaner).
 */
public final class CertificateIssuer implements IdentityIssuer {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateIssuer.class);

  /** The shortest certificate lifetime the API server accepts. */
  public static final Duration MIN_EXPIRATION = Duration.ofSeconds(600);

  private static final long MAX_POLL_MILLIS = 1000;
  private static final Duration FIRST_RETRY = Duration.ofMillis(200);
  private static final Duration MAX_RETRY = Duration.ofSeconds(5);
  private static final int MAX_FORBIDDEN = 4;

  /** kube-controller-manager's CSR cleaner removes a pending request this long after its creation. */
  static final Duration CLEANER_PENDING_LIMIT = Duration.ofHours(24);

  /** How long before the cleaner's limit a resumed wait must end (clock skew, the cleaner's hourly pass). */
  static final Duration CLEANER_MARGIN = Duration.ofHours(1);

  private final KubernetesClient client;
  private final WorkloadIdentity identity;
  private final String signerName;
  private final KeyAlgorithm keyAlgorithm;
  private final Duration expiration;
  private final Duration timeout;
  private final boolean deleteRequests;
  private final Supplier<TrustBundle> trustBundle;
  private final InstantSource clock;
  private final Duration clockSkew;
  private final SecureRandom random;
  private final AtomicReference<PendingRequest> remembered = new AtomicReference<>();

  /**
   * A request an attempt gave up on while it was still usable, kept for the next attempt. The key
   * lives here, in memory only, as it does during a wait.
   */
  private record PendingRequest(String name, String uid, KeyPair keyPair, WorkloadIdentity identity,
      Instant created) {
    @Override
    public String toString() {
      return "PendingRequest[" + name + ", uid=" + uid + ", created=" + created + "]"; // never the key
    }
  }

  private CertificateIssuer(Builder b) {
    this.client = b.client;
    this.identity = b.identity;
    this.signerName = b.signerName;
    this.keyAlgorithm = b.keyAlgorithm;
    this.expiration = b.expiration;
    this.timeout = b.timeout;
    this.deleteRequests = b.deleteRequests;
    this.trustBundle = b.trustBundle;
    this.clock = b.clock;
    this.clockSkew = b.clockSkew;
    this.random = b.random;
  }

  /**
   * Starts an issuer for {@code identity}, whose requests go to {@code signerName}.
   *
   * @param client a client authenticating as the workload itself (its ServiceAccount)
   */
  public static Builder builder(KubernetesClient client, WorkloadIdentity identity, String signerName) {
    return new Builder(client, identity, signerName);
  }

  public WorkloadIdentity identity() {
    return identity;
  }

  public String signerName() {
    return signerName;
  }

  /**
   * The CertificateSigningRequest this issuer would submit for {@code keyPair}, without a name
   * (the API server generates it from {@code metadata.generateName}).
   */
  public CertificateSigningRequest csrFor(KeyPair keyPair) {
    Objects.requireNonNull(keyPair, "keyPair");
    String pem = Pkcs10.toPem(Pkcs10.create(identity, keyPair, keyAlgorithm));
    String prefix = "kube-mtls-" + identity.serviceAccount() + "-";
    if (prefix.length() > 200) {
      prefix = prefix.substring(0, 199) + "-";
    }
    return new CertificateSigningRequestBuilder()
        .withNewMetadata()
          .withGenerateName(prefix)
          .addToLabels("app.kubernetes.io/managed-by", "kube-mtls")
        .endMetadata()
        .withNewSpec()
          .withRequest(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)))
          .withSignerName(signerName)
          .withUsages(identity.usages(keyAlgorithm))
          .withExpirationSeconds(Math.toIntExact(expiration.toSeconds()))
        .endSpec()
        .build();
  }

  @Override
  public TlsIdentity issue(long generation) throws InterruptedException {
    return issue(generation, progress -> { });
  }

  /**
   * Issues as {@link #issue(long)} does, telling {@code progress} of each stage: submitting, then
   * the CSR's name waiting for approval, then approved and waiting for the signer, each with what to
   * check if it stays there. A call that resumes a remembered request reports no submission; its
   * first value names that request, is dated from the request's creation (or, once approved, from when
   * it saw the approval) and its advice begins {@code resumed CertificateSigningRequest <name>
   * (pending since <creation>)}.
   */
  @Override
  public TlsIdentity issue(long generation, Consumer<IssuanceProgress> progress) throws InterruptedException {
    if (generation < 1) {
      throw new IllegalArgumentException("generation must be positive, was " + generation);
    }
    Objects.requireNonNull(progress, "progress");
    Instant deadline = clock.instant().plus(timeout);
    Waiter waiter = resume(remembered.getAndSet(null), deadline, progress);
    KeyPair keyPair;
    if (waiter != null) {
      keyPair = waiter.keyPair;
    } else {
      keyPair = keyAlgorithm.generate(random);
      report(progress, new IssuanceProgress("", IssuanceProgress.Stage.SUBMITTING, clock.instant(),
          "creating a CertificateSigningRequest for signer " + signerName));
      CertificateSigningRequest created = create(csrFor(keyPair));
      String createdName = created.getMetadata().getName();
      LOG.info("Created CertificateSigningRequest {} for {} with signer {}", createdName, identity.spiffeId(),
          signerName);
      waiter = new Waiter(new PendingRequest(createdName, created.getMetadata().getUid(), keyPair, identity,
          creationOf(created)), created.getMetadata().getResourceVersion(), deadline, progress, "");
      report(progress, new IssuanceProgress(createdName, IssuanceProgress.Stage.AWAITING_APPROVAL, clock.instant(),
          waitingForApproval(createdName)));
    }
    String name = waiter.name;
    CertificateSigningRequest issued;
    try {
      issued = waiter.run();
    } catch (InterruptedException e) {
      giveUp(waiter, "the wait was interrupted (the certificate manager was closed)");
      throw e;
    } catch (CertificateDeniedException | CertificateFailedException e) {
      throw e; // kept as evidence, or already gone; never remembered
    } catch (RuntimeException e) {
      giveUp(waiter, e instanceof IssuanceTimeoutException ? "its wait timed out" : "the wait failed");
      throw e;
    }

    String pem = decodeCertificate(name, issued.getStatus().getCertificate());
    TrustBundle trust = trustBundle == null ? null : Objects.requireNonNull(trustBundle.get(),
        "the trust bundle supplier returned null");
    List<X509Certificate> chain = new IssuedCertificateValidator(identity, keyPair.getPublic(), trust, clockSkew)
        .validate(name, pem, clock.instant());
    X509Certificate leaf = chain.get(0);
    LOG.info("CertificateSigningRequest {} issued: subject '{}', serial {}, notAfter {}", name,
        leaf.getSubjectX500Principal().getName(), leaf.getSerialNumber().toString(16),
        leaf.getNotAfter().toInstant());
    if (deleteRequests) {
      delete(name, "issued");
    } else {
      LOG.debug("CertificateSigningRequest {} is issued and left for the cluster's CSR cleaner (an hour after"
          + " approval)", name);
    }
    return new TlsIdentity(keyPair.getPrivate(), chain, generation);
  }

  /**
   * Takes over the remembered request if it is still worth waiting on: returns a waiter primed with
   * its current state, or null to make a new request. The waiter judges that state first, as a watch
   * event: Denied or Failed throw as in any wait, an issued certificate is returned at once.
   */
  private Waiter resume(PendingRequest pending, Instant deadline, Consumer<IssuanceProgress> progress)
      throws InterruptedException {
    if (pending == null) {
      return null;
    }
    if (!pending.identity().equals(identity)) {
      forget(pending, "it asked for another identity than this issuer asks for now");
      return null;
    }
    String why = tooOld(pending.created());
    if (why != null) {
      forget(pending, why);
      return null;
    }
    CertificateSigningRequest current;
    try {
      current = client.certificates().v1().certificateSigningRequests().withName(pending.name()).get();
    } catch (KubernetesClientException e) {
      remember(pending); // still worth waiting on; this attempt cannot tell
      rethrowIfInterrupted(e);
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
    if (!isTrue(current, "Denied") && !isTrue(current, "Failed")) { // those the waiter reports, as in any wait
      LOG.info("Resuming CertificateSigningRequest {} for {} (pending since {}, {})", pending.name(),
          identity.spiffeId(), pending.created(), approved ? "approved, not yet signed" : "not yet approved");
      if (!approved) {
        report(progress, new IssuanceProgress(pending.name(), IssuanceProgress.Stage.AWAITING_APPROVAL,
            pending.created(), note + waitingForApproval(pending.name())));
      }
    }
    Waiter waiter = new Waiter(pending, current.getMetadata().getResourceVersion(), deadline, progress, note);
    waiter.first = current;
    return waiter;
  }

  private String tooOld(Instant created) {
    return staleReason(created, clock.instant(), expiration, timeout);
  }

  /**
   * Why a request created at {@code created} is no longer worth a wait of {@code timeout} starting
   * at {@code now}, or null if it still is: it must be younger than the requested lifetime, and the
   * wait must end {@link #CLEANER_MARGIN} before the CSR cleaner may remove it.
   */
  static String staleReason(Instant created, Instant now, Duration expiration, Duration timeout) {
    if (created == null) {
      return "its creation time is unknown";
    }
    if (!now.isBefore(created.plus(expiration))) {
      return "it is older than the requested lifetime " + expiration;
    }
    if (!now.plus(timeout).isBefore(created.plus(CLEANER_PENDING_LIMIT).minus(CLEANER_MARGIN))) {
      return "the cluster's CSR cleaner may remove it (24 hours after creation) before this wait would end";
    }
    return null;
  }

  /** Gives up a waited-on request that is still usable: deletes it if allowed to, else remembers it. */
  private void giveUp(Waiter waiter, String why) {
    if (deleteRequests) {
      delete(waiter.name, "abandoned: " + why);
      return;
    }
    LOG.info("Giving up the wait on CertificateSigningRequest {} ({}); it stays {} and the next attempt resumes it"
        + " rather than making another", waiter.name, why, waiter.approved ? "approved and unsigned" : "pending");
    remember(waiter.request);
  }

  private void remember(PendingRequest pending) {
    if (!remembered.compareAndSet(null, pending)) {
      // A concurrent attempt gave up on its own request first: one remembered request is enough.
      abandon(pending.name(), "another request is already kept for the next attempt");
    }
  }

  /** Drops a remembered request that is no longer worth resuming (deleted, with deleteRequests). */
  private void forget(PendingRequest pending, String why) {
    LOG.info("Not resuming CertificateSigningRequest {} ({}); making a new request", pending.name(), why);
    abandon(pending.name(), why);
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

  private CertificateSigningRequest create(CertificateSigningRequest csr) throws InterruptedException {
    try {
      return client.certificates().v1().certificateSigningRequests().resource(csr).create();
    } catch (KubernetesClientException e) {
      rethrowIfInterrupted(e);
      String hint = e.getCode() == 403
          ? " (the workload's ServiceAccount needs create, get and watch on"
              + " certificatesigningrequests.certificates.k8s.io)"
          : "";
      throw new MtlsException("could not create a CertificateSigningRequest for signer " + signerName
          + " (HTTP " + e.getCode() + ")" + hint + ": " + e.getMessage(), e);
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

  /** One thing the watch told us, tagged with the watch it came from. */
  private record Event(int watchId, Watcher.Action action, CertificateSigningRequest csr, WatcherException closed) {}

  private final class Waiter {
    private final PendingRequest request;
    private final String name;
    private final String uid;
    private final KeyPair keyPair;
    private final Instant deadline;
    private final Consumer<IssuanceProgress> progress;
    private final String note;
    /** The object as read just before the wait (a resumed request), judged before watching. */
    private CertificateSigningRequest first;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private int watchId;
    private Watch watch;
    private String resourceVersion;
    private volatile boolean approved;
    private boolean needsResync;
    private boolean historyGone;
    private int closesWithoutEvent;
    private int forbidden;
    private Duration retryDelay = FIRST_RETRY;
    private Instant retryAt;

    Waiter(PendingRequest request, String resourceVersion, Instant deadline, Consumer<IssuanceProgress> progress,
        String note) {
      this.request = request;
      this.name = request.name();
      this.uid = request.uid();
      this.keyPair = request.keyPair();
      this.resourceVersion = resourceVersion;
      this.deadline = deadline;
      this.progress = progress;
      this.note = note;
    }

    CertificateSigningRequest run() throws InterruptedException {
      try {
        if (first != null) {
          Optional<CertificateSigningRequest> done = observe(first);
          first = null;
          if (done.isPresent()) {
            return done.get();
          }
        }
        startWatch();
        while (true) {
          Instant now = clock.instant();
          if (!now.isBefore(deadline)) {
            IssuanceTimeoutException.Stage stage = approved
                ? IssuanceTimeoutException.Stage.SIGNATURE : IssuanceTimeoutException.Stage.APPROVAL;
            LOG.warn("CertificateSigningRequest {} timed out after {} waiting for {}", name, timeout, stage);
            throw new IssuanceTimeoutException(name, signerName, stage, timeout);
          }
          if (needsResync && !now.isBefore(retryAt)) {
            Optional<CertificateSigningRequest> done = resync();
            if (done.isPresent()) {
              return done.get();
            }
            continue;
          }
          long waitMillis = Math.min(MAX_POLL_MILLIS, Duration.between(now, needsResync && retryAt.isBefore(deadline)
              ? retryAt : deadline).toMillis());
          Event e = events.poll(Math.max(1, waitMillis), TimeUnit.MILLISECONDS);
          if (e == null || e.watchId() != watchId) {
            continue;
          }
          if (e.action() == null || e.action() == Watcher.Action.ERROR) {
            historyGone = e.closed() != null && e.closed().isHttpGone();
            Duration delay = closesWithoutEvent++ == 0 ? Duration.ZERO : retryDelay;
            LOG.info("Watch on CertificateSigningRequest {} closed ({}); re-reading it in {}", name,
                e.closed() == null ? "error event" : historyGone ? "history compacted, 410 Gone"
                    : e.closed().getMessage(), delay);
            scheduleResync(delay);
            continue;
          }
          closesWithoutEvent = 0;
          retryDelay = FIRST_RETRY;
          if (e.action() == Watcher.Action.BOOKMARK) {
            resourceVersion = e.csr().getMetadata().getResourceVersion();
            continue;
          }
          if (e.action() == Watcher.Action.DELETED) {
            throw deleted();
          }
          Optional<CertificateSigningRequest> done = observe(e.csr());
          if (done.isPresent()) {
            return done.get();
          }
        }
      } finally {
        closeWatch();
      }
    }

    /** Judges one version of the CSR: terminal outcomes throw or return, anything else waits. */
    private Optional<CertificateSigningRequest> observe(CertificateSigningRequest csr) {
      if (!uid.equals(csr.getMetadata().getUid())) {
        LOG.warn("CertificateSigningRequest {} was replaced by another object with the same name", name);
        throw new CertificateFailedException(name, "Replaced", "the request was deleted and replaced by"
            + " another object with the same name (uid " + csr.getMetadata().getUid() + ", ours was " + uid + ")");
      }
      resourceVersion = csr.getMetadata().getResourceVersion();
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
      boolean nowApproved = conditions.stream()
          .anyMatch(c -> "Approved".equals(c.getType()) && "True".equals(c.getStatus()));
      if (nowApproved && !approved) {
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

    /** After a dropped watch: read the object as it is now, then watch again from there. */
    private Optional<CertificateSigningRequest> resync() throws InterruptedException {
      closeWatch();
      CertificateSigningRequest current;
      try {
        current = client.certificates().v1().certificateSigningRequests().withName(name).get();
      } catch (KubernetesClientException e) {
        rethrowIfInterrupted(e);
        LOG.info("Could not re-read CertificateSigningRequest {} (HTTP {}); retrying in {}", name, e.getCode(),
            retryDelay);
        scheduleResync(retryDelay);
        return Optional.empty();
      }
      if (current == null) {
        throw deleted();
      }
      Optional<CertificateSigningRequest> done = observe(current);
      if (done.isPresent()) {
        return done;
      }
      needsResync = false;
      if (historyGone) {
        // The API server no longer has history back to this object's version (e.g. its watch cache
        // was rebuilt): watch from "now", which first replays the object's current state as ADDED.
        resourceVersion = null;
        historyGone = false;
      }
      startWatch();
      return Optional.empty();
    }

    private void scheduleResync(Duration delay) {
      closeWatch();
      needsResync = true;
      retryAt = clock.instant().plus(delay);
      if (!delay.isZero()) {
        Duration doubled = retryDelay.multipliedBy(2);
        retryDelay = doubled.compareTo(MAX_RETRY) > 0 ? MAX_RETRY : doubled;
      }
    }

    private void startWatch() throws InterruptedException {
      int id = ++watchId;
      try {
        watch = client.certificates().v1().certificateSigningRequests()
            .withField("metadata.name", name)
            .watch(new ListOptionsBuilder().withResourceVersion(resourceVersion).withAllowWatchBookmarks(true)
                .build(), new Watcher<>() {
                  @Override
                  public void eventReceived(Action action, CertificateSigningRequest csr) {
                    events.add(new Event(id, action, csr, null));
                  }

                  @Override
                  public void onClose(WatcherException cause) {
                    events.add(new Event(id, null, null, cause));
                  }
                });
      } catch (KubernetesClientException e) {
        rethrowIfInterrupted(e);
        watch = null;
        LOG.info("Could not watch CertificateSigningRequest {} (HTTP {}); retrying in {}", name, e.getCode(),
            retryDelay);
        // RBAC changes reach the authorizer's cache with a delay: retry a few times before giving up.
        if (e.getCode() == 403 && ++forbidden >= MAX_FORBIDDEN) {
          throw new MtlsException("not allowed to watch CertificateSigningRequest " + name + " (the workload's"
              + " ServiceAccount needs get and watch on certificatesigningrequests.certificates.k8s.io)", e);
        }
        scheduleResync(retryDelay);
      }
    }

    private void closeWatch() {
      watchId++; // events still in flight from the old watch are ignored
      if (watch != null) {
        watch.close();
        watch = null;
      }
    }

    private CertificateFailedException deleted() {
      LOG.warn("CertificateSigningRequest {} was deleted before it was issued", name);
      return new CertificateFailedException(name, "Deleted", "the request was deleted before a certificate"
          + " was issued");
    }
  }

  private static String decodeCertificate(String name, String base64) {
    try {
      return new String(Base64.getDecoder().decode(base64), StandardCharsets.US_ASCII);
    } catch (IllegalArgumentException e) {
      throw new CertificateFailedException(name, IssuedCertificateValidator.REASON,
          "status.certificate is not base64-encoded", e);
    }
  }

  private static void rethrowIfInterrupted(KubernetesClientException e) throws InterruptedException {
    if (Thread.currentThread().isInterrupted() || e.getCause() instanceof InterruptedException) {
      InterruptedException ie = new InterruptedException("interrupted while talking to the API server");
      ie.initCause(e);
      Thread.interrupted();
      throw ie;
    }
  }

  @Override
  public String toString() {
    return "CertificateIssuer[" + identity.spiffeId() + ", signer=" + signerName + ", key=" + keyAlgorithm
        + ", expiration=" + expiration + "]";
  }

  /**
   * Configures a {@link CertificateIssuer}. Defaults: {@link KeyAlgorithm#EC_P256}, a 24-hour
   * expiration, a 5-minute timeout, no deletion of requests, no chain verification, the system clock,
   * 2 minutes of allowed clock skew, and no {@code kubernetes.io} signers.
   */
  public static final class Builder {
    private final KubernetesClient client;
    private final WorkloadIdentity identity;
    private final String signerName;
    private KeyAlgorithm keyAlgorithm = KeyAlgorithm.EC_P256;
    private Duration expiration = Duration.ofHours(24);
    private Duration timeout = Duration.ofMinutes(5);
    private boolean deleteRequests;
    private Supplier<TrustBundle> trustBundle;
    private InstantSource clock = InstantSource.system();
    private Duration clockSkew = Duration.ofMinutes(2);
    private boolean allowKubernetesIoSigner;
    private SecureRandom random;

    private Builder(KubernetesClient client, WorkloadIdentity identity, String signerName) {
      this.client = Objects.requireNonNull(client, "client");
      this.identity = Objects.requireNonNull(identity, "identity");
      this.signerName = Objects.requireNonNull(signerName, "signerName");
    }

    public Builder keyAlgorithm(KeyAlgorithm keyAlgorithm) {
      this.keyAlgorithm = Objects.requireNonNull(keyAlgorithm, "keyAlgorithm");
      return this;
    }

    /** The certificate lifetime requested ({@code spec.expirationSeconds}); at least 10 minutes. */
    public Builder expiration(Duration expiration) {
      this.expiration = Objects.requireNonNull(expiration, "expiration");
      return this;
    }

    /** How long one {@link #build() issuer}'s {@code issue} waits for approval and signature together. */
    public Builder timeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * Whether to delete each CSR this issuer is done with: once its certificate has been validated,
     * and when it gives the request up (timed out, watch refused, interrupted). Off by default: the
     * cluster's CSR cleaner removes requests by itself (issued ones an hour after approval, pending
     * ones after 24 hours). Turning it on needs {@code delete} on CertificateSigningRequests, which
     * RBAC grants cluster-wide only (the ClusterRole {@code kube-mtls-workload-csr-cleanup} of the
     * shipped workload RBAC): the workload could then delete any CSR, also other workloads' requests
     * and the denied ones kept as evidence. Denied and failed requests are never deleted here.
     * With it off, an attempt that gives up on a still usable request remembers it and the next
     * attempt resumes it (see the class documentation), so a signer outage leaves one pending request
     * per issuer, not one per attempt.
     */
    public Builder deleteRequests(boolean deleteRequests) {
      this.deleteRequests = deleteRequests;
      return this;
    }

    /**
     * The CAs an issued chain must verify to, read at each issuance (so a rotating bundle is
     * honoured). Without it, the chain is not verified here and the TLS peers' verification is the
     * only check of the issuer.
     */
    public Builder trustBundle(Supplier<TrustBundle> trustBundle) {
      this.trustBundle = Objects.requireNonNull(trustBundle, "trustBundle");
      return this;
    }

    /** The clock for deadlines and certificate validity checks. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** How far an issued certificate's notBefore may lie in our future (signer clock ahead of ours). */
    public Builder clockSkew(Duration clockSkew) {
      this.clockSkew = Objects.requireNonNull(clockSkew, "clockSkew");
      return this;
    }

    /**
     * Allows signers in the reserved {@code kubernetes.io} domain, such as
     * {@code kubernetes.io/kube-apiserver-client}. Off by default: those signers are run by
     * kube-controller-manager for cluster components, not for workload mTLS.
     */
    public Builder allowKubernetesIoSigner(boolean allow) {
      this.allowKubernetesIoSigner = allow;
      return this;
    }

    /** The randomness for key generation; a new {@link SecureRandom} by default. */
    public Builder random(SecureRandom random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    /**
     * Validates the configuration and builds the issuer. Nothing is sent to the API server yet.
     *
     * @throws IllegalArgumentException naming the invalid field
     */
    public CertificateIssuer build() {
      if (!allowKubernetesIoSigner && SignerNames.isKubernetesIo(signerName)) {
        throw new IllegalArgumentException("signerName '" + signerName + "' is in the reserved kubernetes.io domain,"
            + " served by kube-controller-manager; use your own signer (e.g. the kube-mtls signer's name) or opt in"
            + " explicitly with allowKubernetesIoSigner(true)");
      }
      SignerNames.require(signerName, true);
      if (expiration.compareTo(MIN_EXPIRATION) < 0) {
        throw new IllegalArgumentException("expiration " + expiration + " is shorter than the "
            + MIN_EXPIRATION.toSeconds() + " seconds (expirationSeconds) the API server accepts");
      }
      if (expiration.toSeconds() > Integer.MAX_VALUE || expiration.getNano() != 0) {
        throw new IllegalArgumentException("expiration " + expiration
            + " must be a whole number of seconds that fits expirationSeconds (an int32)");
      }
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, was " + timeout);
      }
      if (clockSkew.isNegative()) {
        throw new IllegalArgumentException("clockSkew must not be negative, was " + clockSkew);
      }
      if (random == null) {
        random = new SecureRandom();
      }
      return new CertificateIssuer(this);
    }
  }
}
