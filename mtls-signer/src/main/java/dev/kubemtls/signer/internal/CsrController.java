package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestSpec;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Approves and signs the CertificateSigningRequests of one signer name.
 *
 * <p>An informer lists and watches only CSRs with {@code spec.signerName=<ours>}; every add or
 * update queues the CSR's name. A worker then reads the CSR from the cache and moves it one step:
 * a CSR without a verdict gets one from the {@link ApprovalPolicy} through the approval
 * subresource (appended to the existing conditions); an approved CSR without certificate and without
 * {@code Failed} gets one through the status subresource, or {@code Failed} with a reason when the CA
 * refuses it. Every write ({@link CsrWrites}: a merge patch of only what changes) carries the
 * resourceVersion of the copy that was checked, so a verdict is never overwritten and a certificate is
 * issued at most once: a 409 Conflict means someone else moved first, and the CSR is looked at again
 * from the newer state. Right after approving, the worker signs, preconditioned on the resourceVersion
 * the approval produced. Transient errors are retried with exponential backoff.
 */
public final class CsrController implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CsrController.class);

  private final KubernetesClient client;
  private final String signerName;
  private final ApprovalPolicy policy;
  private final Supplier<CertificateAuthority> ca;
  private final ClusterView cluster;
  private final ApiClusterView live;
  private final InformerClusterView cache;
  private final InstantSource clock;
  private final SharedIndexInformer<CertificateSigningRequest> informer;
  private final WorkQueue queue;
  private final SignerListener listener;
  /** CSRs whose final status this controller wrote and whose cached copy has not caught up yet. */
  private final java.util.Set<String> written = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final CsrEvents events;
  private final CsrWrites writes;
  /** Whether pending CSRs get this controller's verdict, or wait for another approver's. */
  private final boolean approving;

  public CsrController(KubernetesClient client, String signerName, ApprovalPolicy policy,
      Supplier<CertificateAuthority> ca, InstantSource clock, int workers, Duration resync, SignerListener listener) {
    this(client, signerName, policy, ca, clock, workers, resync, listener, false);
  }

  /**
   * @param cacheLookups whether the approver reads Pods and Services from cluster-wide informers
   *     ({@link InformerClusterView}) rather than with a GET and a LIST per request
   */
  public CsrController(KubernetesClient client, String signerName, ApprovalPolicy policy,
      Supplier<CertificateAuthority> ca, InstantSource clock, int workers, Duration resync, SignerListener listener,
      boolean cacheLookups) {
    this(client, signerName, policy, ca, clock, workers, resync, listener, cacheLookups, CsrEvents.NONE);
  }

  /**
   * @param events where denials and failures are recorded as Kubernetes Events on the CSR
   */
  public CsrController(KubernetesClient client, String signerName, ApprovalPolicy policy,
      Supplier<CertificateAuthority> ca, InstantSource clock, int workers, Duration resync, SignerListener listener,
      boolean cacheLookups, CsrEvents events) {
    this(client, signerName, policy, ca, clock, workers, resync, listener, cacheLookups, events, true);
  }

  /**
   * @param approving whether a pending CSR gets this controller's verdict through {@code /approval};
   *     if not, it waits for another approver, and once approved is judged by the policy like every
   *     CSR approved elsewhere before it is signed
   */
  public CsrController(KubernetesClient client, String signerName, ApprovalPolicy policy,
      Supplier<CertificateAuthority> ca, InstantSource clock, int workers, Duration resync, SignerListener listener,
      boolean cacheLookups, CsrEvents events, boolean approving) {
    this.approving = approving;
    if (!approving) {
      LOG.info("CSRs of {} are approved by others: this signer gives no verdicts, it signs what its policy allows",
          signerName);
    }
    this.events = Objects.requireNonNull(events, "events");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.client = Objects.requireNonNull(client, "client");
    this.writes = new CsrWrites(client);
    this.signerName = Objects.requireNonNull(signerName, "signerName");
    this.policy = Objects.requireNonNull(policy, "policy");
    this.ca = Objects.requireNonNull(ca, "ca");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.live = new ApiClusterView(client);
    this.cache = cacheLookups ? new InformerClusterView(client, live) : null;
    this.cluster = cache != null ? cache : live;
    // Fair among requesters: a quarter of the workers is each requester's share; beyond it a requester
    // gets workers only while nobody below their share waits, and never the reserve.
    this.queue = new WorkQueue("csr-" + signerName, workers, Duration.ofMillis(100), Duration.ofSeconds(30),
        this::process, this::requesterOf, perRequester(workers), clock);
    this.informer = client.certificates().v1().certificateSigningRequests()
        .withField("spec.signerName", signerName)
        .runnableInformer(resync.toMillis());
    informer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(CertificateSigningRequest csr) {
        if (signerName.equals(Csrs.signerName(csr))) {
          listener.seen(csr.getMetadata().getName());
        }
        enqueue(csr);
      }

      @Override
      public void onUpdate(CertificateSigningRequest oldCsr, CertificateSigningRequest csr) {
        enqueue(csr);
      }

      @Override
      public void onDelete(CertificateSigningRequest csr, boolean unknownFinalState) {
        // Nothing to undo: a deleted CSR needs nothing more.
        written.remove(csr.getMetadata().getName());
      }
    });
  }

  /**
   * Starts the informer without waiting for it. The returned stage completes once the first list
   * arrived, or exceptionally if the informer cannot start.
   */
  public java.util.concurrent.CompletionStage<Void> start() {
    if (cache != null) {
      cache.start();
    }
    return informer.start().whenComplete((ok, error) -> {
      if (error != null) {
        LOG.error("cannot list and watch CertificateSigningRequests of {}: {}", signerName, error.toString());
      }
    });
  }

  /** A requester's share of the workers: a quarter of them, at least one. */
  static int perRequester(int workers) {
    return Math.max(1, workers / 4);
  }

  /** The fairness group of a queued CSR: its requester's user name, from the cache. */
  private String requesterOf(String name) {
    CertificateSigningRequest csr = informer.getStore().getByKey(name);
    String user = csr == null || csr.getSpec() == null ? null : csr.getSpec().getUsername();
    return user == null ? "" : user;
  }

  private void enqueue(CertificateSigningRequest csr) {
    if (!signerName.equals(Csrs.signerName(csr))) {
      return;
    }
    if (Csrs.issued(csr) || Csrs.hasCondition(csr, Csrs.DENIED) || Csrs.hasCondition(csr, Csrs.FAILED)) {
      return;
    }
    queue.add(csr.getMetadata().getName());
  }

  WorkQueue.Outcome process(String name) {
    CertificateSigningRequest cached = informer.getStore().getByKey(name);
    if (cached == null || !signerName.equals(Csrs.signerName(cached))) {
      written.remove(name);
      return WorkQueue.Outcome.DONE;
    }
    try {
      if (Csrs.issued(cached) || Csrs.hasCondition(cached, Csrs.DENIED) || Csrs.hasCondition(cached, Csrs.FAILED)) {
        written.remove(name);
        return WorkQueue.Outcome.DONE;
      }
      if (written.contains(name)) {
        // We wrote the final status already; the event that brings it to the cache is on its way.
        return WorkQueue.Outcome.DONE;
      }
      if (!Csrs.hasCondition(cached, Csrs.APPROVED)) {
        // Without approving, the approval's watch event brings the CSR back.
        return approving ? decide(cached) : WorkQueue.Outcome.DONE;
      }
      return signApprovedElsewhere(cached);
    } catch (KubernetesClientException e) {
      return onApiError(name, e);
    } catch (RuntimeException | Error e) {
      return failOnInternalError(cached, e);
    }
  }

  /** Why the signer could not finish a CSR because of its own failure on it (an exception, an Error). */
  public static final String INTERNAL_ERROR = "InternalError";

  /**
   * One CSR made the signer fail (a bug, or an input that defeats a parser): it is marked
   * {@code Failed} with {@link #INTERNAL_ERROR}, counted, and the worker goes on with the next CSR.
   * Retrying would fail the same way. If even the write fails, the CSR is retried with backoff.
   */
  private WorkQueue.Outcome failOnInternalError(CertificateSigningRequest cached, Throwable e) {
    String name = cached.getMetadata().getName();
    String message = "the signer failed on this request (" + e.getClass().getName() + "); it will not be retried";
    LOG.error("CSR {}: {}: {}", name, message, Bounded.message(String.valueOf(e.getMessage())), e);
    try {
      // The failure may come after this worker's own approval moved the CSR on: write on its current
      // state, read live (a rare path), unless that state is final already.
      CertificateSigningRequest current = client.certificates().v1().certificateSigningRequests().withName(name).get();
      if (current == null || !signerName.equals(Csrs.signerName(current)) || Csrs.issued(current)
          || Csrs.hasCondition(current, Csrs.DENIED) || Csrs.hasCondition(current, Csrs.FAILED)
          || !java.util.Objects.equals(current.getMetadata().getUid(), cached.getMetadata().getUid())) {
        return WorkQueue.Outcome.DONE;
      }
      List<CertificateSigningRequestCondition> failed = conditionsOf(current);
      failed.add(Csrs.condition(Csrs.FAILED, INTERNAL_ERROR, message, clock.instant()));
      writes.failure(name, current.getMetadata().getResourceVersion(), failed);
      written.add(name);
      listener.failed(name, INTERNAL_ERROR);
      events.failed(current, INTERNAL_ERROR, message);
      return WorkQueue.Outcome.DONE;
    } catch (KubernetesClientException write) {
      return onApiError(name, write);
    }
  }

  /**
   * An approved CSR this worker did not just approve itself (another approver, or this signer before
   * a restart): the approval policy judges it again, with the requester the API server recorded, before
   * the CA signs it. Approval by someone holding {@code approve} does not let a request past the
   * signer's name, subject and extension rules: a request the policy denies is marked {@code Failed}
   * with the policy's reason.
   */
  private WorkQueue.Outcome signApprovedElsewhere(CertificateSigningRequest cached) {
    String name = cached.getMetadata().getName();
    Requester requester = requesterOf(cached.getSpec());
    ApprovalDecision decision;
    CertificateRequest parsed = null;
    if (requester.serviceAccount().isEmpty()) {
      decision = policy.decide("", Csrs.usages(cached), requester, cluster);
    } else {
      try {
        parsed = CertificateRequest.parse(Csrs.requestPem(cached));
        decision = Lookups.decide(policy, parsed, Csrs.usages(cached), requester, cluster, live);
      } catch (dev.kubemtls.core.InvalidMaterialException e) {
        decision = ApprovalDecision.deny(ApprovalDecision.MALFORMED_REQUEST, e.getMessage());
      }
    }
    if (!decision.approved()) {
      String message = "approved, but the signer's policy refuses it: " + decision.message();
      List<CertificateSigningRequestCondition> failed = conditionsOf(cached);
      failed.add(Csrs.condition(Csrs.FAILED, decision.reason(), message, clock.instant()));
      writes.failure(name, cached.getMetadata().getResourceVersion(), failed);
      written.add(name);
      LOG.warn("failed CSR {} of {}: {} ({})", name, Bounded.clip(requester.username(), Bounded.ITEM_CHARS),
          decision.reason(), decision.message());
      listener.failed(name, decision.reason());
      events.failed(cached, decision.reason(), message);
      return WorkQueue.Outcome.DONE;
    }
    return sign(cached, cached.getMetadata().getResourceVersion(), conditionsOf(cached), parsed);
  }

  static Requester requesterOf(CertificateSigningRequestSpec spec) {
    return new Requester(spec.getUsername() == null ? "" : spec.getUsername(), spec.getUid(), spec.getGroups(),
        spec.getExtra());
  }

  private WorkQueue.Outcome decide(CertificateSigningRequest cached) {
    String name = cached.getMetadata().getName();
    Requester requester = requesterOf(cached.getSpec());
    // Parsed once here; the same instance (with its one signature check) goes on to the CA.
    CertificateRequest parsed = null;
    ApprovalDecision decision;
    if (requester.serviceAccount().isEmpty()) {
      // The cheap decision first: who asked is known without reading the request at all.
      decision = policy.decide("", Csrs.usages(cached), requester, cluster);
    } else {
      try {
        parsed = CertificateRequest.parse(Csrs.requestPem(cached));
        // From the caches; a denial that depends on them is decided again with live reads.
        decision = Lookups.decide(policy, parsed, Csrs.usages(cached), requester, cluster, live);
      } catch (dev.kubemtls.core.InvalidMaterialException e) {
        decision = ApprovalDecision.deny(ApprovalDecision.MALFORMED_REQUEST, e.getMessage());
      }
    }
    // Append the verdict to the conditions of the copy that was judged and write them to /approval
    // with that copy's resourceVersion: if anything changed meanwhile (another verdict, a new UID under
    // the same name), the API server answers 409 and the CSR is judged again from the newer state.
    List<CertificateSigningRequestCondition> conditions = conditionsOf(cached);
    conditions.add(Csrs.condition(decision.approved() ? Csrs.APPROVED : Csrs.DENIED, decision.reason(),
        decision.message(), clock.instant()));
    String resourceVersion = writes.approval(name, cached.getMetadata().getResourceVersion(), conditions);
    listener.decided(name, decision);
    if (!decision.approved()) {
      events.denied(cached, decision.reason(), decision.message());
      LOG.info("denied CSR {} of {}: {} ({})", name, Bounded.clip(requester.username(), Bounded.ITEM_CHARS),
          decision.reason(), decision.message());
      written.add(name);
      return WorkQueue.Outcome.DONE;
    }
    LOG.info("approved CSR {} of {}: {}", name, Bounded.clip(requester.username(), Bounded.ITEM_CHARS),
        decision.message());
    // Sign right away, preconditioned on the resourceVersion the approval produced, instead of
    // waiting for the informer to bring the approved CSR back.
    return sign(cached, resourceVersion, conditions, parsed);
  }

  private static List<CertificateSigningRequestCondition> conditionsOf(CertificateSigningRequest csr) {
    List<CertificateSigningRequestCondition> conditions = new ArrayList<>();
    if (csr.getStatus() != null && csr.getStatus().getConditions() != null) {
      conditions.addAll(csr.getStatus().getConditions());
    }
    return conditions;
  }

  /**
   * Signs a CSR that was checked (approved, no certificate, not failed) in the state of
   * {@code resourceVersion}, whose conditions are {@code conditions}. The write carries that
   * resourceVersion, so the API server refuses it (409) if anything changed since, e.g. another
   * replica issued meanwhile.
   */
  private WorkQueue.Outcome sign(CertificateSigningRequest checked, String resourceVersion,
      List<CertificateSigningRequestCondition> conditions, CertificateRequest parsed) {
    String name = checked.getMetadata().getName();
    X509Certificate certificate;
    try {
      certificate = parsed != null
          ? ca.get().sign(parsed, Csrs.usages(checked), checked.getSpec().getExpirationSeconds())
          : ca.get().sign(Csrs.requestPem(checked), Csrs.usages(checked), checked.getSpec().getExpirationSeconds());
    } catch (SigningException e) {
      List<CertificateSigningRequestCondition> failed = new ArrayList<>(conditions);
      failed.add(Csrs.condition(Csrs.FAILED, e.reason(), e.getMessage(), clock.instant()));
      writes.failure(name, resourceVersion, failed);
      written.add(name);
      LOG.warn("failed CSR {}: {} ({})", name, e.reason(), Bounded.message(e.getMessage()));
      listener.failed(name, e.reason());
      events.failed(checked, e.reason(), e.getMessage());
      return WorkQueue.Outcome.DONE;
    }
    String pem = Pem.encodeCertificates(List.of(certificate));
    writes.certificate(name, resourceVersion,
        Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)));
    written.add(name);
    if (LOG.isInfoEnabled()) {
      // Formatting the subject and serial is per-CSR work: only when the line is written.
      LOG.info("issued CSR {}: subject '{}', serial {}, notAfter {}", name,
          Bounded.clip(certificate.getSubjectX500Principal().getName(), Bounded.ITEM_CHARS * 2),
          certificate.getSerialNumber().toString(16),
          certificate.getNotAfter().toInstant());
    }
    listener.issued(name, certificate, sinceCreation(checked));
    return WorkQueue.Outcome.DONE;
  }

  private WorkQueue.Outcome onApiError(String name, KubernetesClientException e) {
    int code = e.getCode();
    if (code == 409) {
      LOG.debug("CSR {} changed while being processed; looking again", name);
      listener.conflict(name);
      return WorkQueue.Outcome.RETRY_NOW;
    }
    if (code == 404) {
      return WorkQueue.Outcome.DONE;
    }
    if (code == 403) {
      LOG.error("CSR {}: forbidden ({}); check the signer's RBAC", name, Bounded.message(e.getMessage()));
    } else {
      LOG.warn("CSR {}: API error {} ({}); will retry", name, code, Bounded.message(e.getMessage()));
    }
    return WorkQueue.Outcome.RETRY_BACKOFF;
  }

  private Duration sinceCreation(CertificateSigningRequest csr) {
    String created = csr.getMetadata().getCreationTimestamp();
    if (created == null) {
      return Duration.ZERO;
    }
    try {
      Duration d = Duration.between(Csrs.timestamp(created), clock.instant());
      return d.isNegative() ? Duration.ZERO : d;
    } catch (java.time.format.DateTimeParseException e) {
      return Duration.ZERO;
    }
  }

  /** Whether the informer has delivered its first list: the controller knows every CSR it should. */
  public boolean hasSynced() {
    return informer.hasSynced();
  }

  /**
   * Why this controller cannot make progress, or empty when it can: CSRs have waited for longer than
   * {@code limit} while no worker finished one, or no worker is left. For {@code /readyz}.
   */
  public java.util.Optional<String> stalled(Duration limit) {
    return queue.stalled(limit);
  }

  /** How many CSRs wait for a worker. */
  public int queueDepth() {
    return queue.depth();
  }

  /** Stops the informer and the workers. A write in flight completes; none starts afterwards. */
  @Override
  public void close() {
    queue.close();
    informer.close();
    if (cache != null) {
      cache.close();
    }
  }
}
