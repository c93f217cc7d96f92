package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.signer.CertificateAuthority;
import dev.kubemtls.signer.ClusterView;
import dev.kubemtls.signer.SignerListener;
import dev.kubemtls.signer.SigningException;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the {@code certificates.k8s.io/v1beta1} PodCertificateRequests of one signer name: the
 * requests the kubelet creates, as the node, for a Pod's {@code podCertificate} projected volume.
 *
 * <p>An informer lists and watches the requests with {@code spec.signerName=<ours>} in every
 * namespace; every add or update of a request without {@code Issued}, {@code Denied} or
 * {@code Failed} queues its {@code namespace/name}. A worker decides with
 * {@link PodCertificateRules} and writes the outcome in one update of the status subresource, with
 * the resourceVersion it read (a 409 means another writer moved first, and the request is looked at
 * again): {@code Issued} with {@code certificateChain} (the leaf, then the signing CA),
 * {@code notBefore} and {@code notAfter} as in the leaf and {@code beginRefreshAt} at a uniformly
 * jittered 70-90 % of the lifetime (the workload renewal rule of {@link RotationPolicy}), kept inside
 * the API server's window of 10 minutes after {@code notBefore} to 10 minutes before
 * {@code notAfter}; or {@code Denied}/{@code Failed} with a reason and a message and nothing else.
 * There is no approval step for these requests. Transient errors are retried with backoff.
 */
public final class PodCertificateController implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(PodCertificateController.class);

  /** The condition types the API defines. */
  static final String ISSUED = "Issued";
  static final String DENIED = "Denied";
  static final String FAILED = "Failed";
  /** The reason of the Issued condition. */
  static final String ISSUED_REASON = "Issued";
  /** Failed: the API server refused the Issued status this signer wrote (422). */
  static final String STATUS_REJECTED = "IssuedStatusRejected";
  /** The API server's margin: beginRefreshAt lies this far inside notBefore..notAfter. */
  static final Duration REFRESH_MARGIN = Duration.ofMinutes(10);

  private final KubernetesClient client;
  private final String signerName;
  private final PodCertificateRules rules;
  private final Supplier<CertificateAuthority> ca;
  private final ClusterView cluster;
  private final InstantSource clock;
  private final Random random;
  private final SignerListener listener;
  private final SharedIndexInformer<PodCertificateRequest> informer;
  private final WorkQueue queue;
  /** Requests whose final status this controller wrote and whose cached copy has not caught up yet. */
  private final java.util.Set<String> written = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * @param cluster where the Pod and its namespace's Services are read (live reads: the request is
   *     judged on the current Pod)
   * @param random  the jitter of {@code beginRefreshAt}
   */
  public PodCertificateController(KubernetesClient client, String signerName, PodCertificateRules rules,
      Supplier<CertificateAuthority> ca, ClusterView cluster, InstantSource clock, Random random, int workers,
      Duration resync, SignerListener listener) {
    this.client = Objects.requireNonNull(client, "client");
    this.signerName = Objects.requireNonNull(signerName, "signerName");
    this.rules = Objects.requireNonNull(rules, "rules");
    this.ca = Objects.requireNonNull(ca, "ca");
    this.cluster = Objects.requireNonNull(cluster, "cluster");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.random = Objects.requireNonNull(random, "random");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.queue = new WorkQueue("pcr-" + signerName, workers, Duration.ofMillis(100), Duration.ofSeconds(30),
        this::process);
    this.informer = client.resources(PodCertificateRequest.class).inAnyNamespace()
        .withField("spec.signerName", signerName)
        .runnableInformer(resync.toMillis());
    informer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(PodCertificateRequest request) {
        enqueue(request);
      }

      @Override
      public void onUpdate(PodCertificateRequest oldRequest, PodCertificateRequest request) {
        enqueue(request);
      }

      @Override
      public void onDelete(PodCertificateRequest request, boolean unknownFinalState) {
        written.remove(key(request));
      }
    });
  }

  /** Starts the informer without waiting; the stage completes once the first list arrived. */
  public java.util.concurrent.CompletionStage<Void> start() {
    return informer.start().whenComplete((ok, error) -> {
      if (error != null) {
        LOG.error("cannot list and watch PodCertificateRequests of {}: {}", signerName, error.toString());
      }
    });
  }

  /** Whether the informer has delivered its first list. */
  public boolean hasSynced() {
    return informer.hasSynced();
  }

  /** How many requests wait for a worker. */
  public int queueDepth() {
    return queue.depth();
  }

  private static String key(PodCertificateRequest request) {
    return request.getMetadata().getNamespace() + "/" + request.getMetadata().getName();
  }

  private void enqueue(PodCertificateRequest request) {
    if (request.getSpec() == null || !signerName.equals(request.getSpec().getSignerName()) || terminal(request)) {
      return;
    }
    queue.add(key(request));
  }

  static boolean terminal(PodCertificateRequest request) {
    PodCertificateRequestStatus status = request.getStatus();
    return status != null && status.getConditions() != null && status.getConditions().stream()
        .anyMatch(c -> "True".equals(c.getStatus())
            && (ISSUED.equals(c.getType()) || DENIED.equals(c.getType()) || FAILED.equals(c.getType())));
  }

  WorkQueue.Outcome process(String key) {
    PodCertificateRequest cached = informer.getStore().getByKey(key);
    if (cached == null || cached.getSpec() == null || !signerName.equals(cached.getSpec().getSignerName())
        || terminal(cached)) {
      written.remove(key);
      return WorkQueue.Outcome.DONE;
    }
    if (written.contains(key)) {
      return WorkQueue.Outcome.DONE;
    }
    try {
      return handle(key, cached);
    } catch (KubernetesClientException e) {
      return onApiError(key, e);
    }
  }

  private WorkQueue.Outcome handle(String key, PodCertificateRequest cached) {
    var spec = cached.getSpec();
    byte[] pkix;
    try {
      pkix = spec.getPkixPublicKey() == null ? new byte[0] : Base64.getDecoder().decode(spec.getPkixPublicKey());
    } catch (IllegalArgumentException e) {
      pkix = new byte[0];
    }
    PodCertificateRules.Request request = new PodCertificateRules.Request(cached.getMetadata().getNamespace(),
        spec.getPodName(), spec.getPodUID(), spec.getServiceAccountName(), pkix, spec.getMaxExpirationSeconds(),
        spec.getUnverifiedUserAnnotations());
    PodCertificateRules.Decision decision = rules.decide(request, cluster);
    PodCertificateRequest copy = new PodCertificateRequestBuilder(cached).build();
    Instant now = clock.instant();
    if (decision instanceof PodCertificateRules.Deny deny) {
      writeTerminal(copy, DENIED, deny.reason(), deny.message(), now);
      written.add(key);
      LOG.info("denied PodCertificateRequest {} (Pod {}): {} ({})", key, spec.getPodName(), deny.reason(),
          deny.message());
      listener.podCertificateDenied(key, deny.reason());
      return WorkQueue.Outcome.DONE;
    }
    if (decision instanceof PodCertificateRules.Fail fail) {
      return failed(key, copy, fail.reason(), fail.message(), now);
    }
    PodCertificateRules.Issue issue = (PodCertificateRules.Issue) decision;
    CertificateAuthority signing = ca.get();
    X509Certificate leaf;
    try {
      leaf = signing.signPodCertificate(issue.key(), issue.uris(), issue.dnsNames(), issue.ips(), issue.lifetime());
    } catch (SigningException e) {
      return failed(key, copy, e.reason(), e.getMessage(), now);
    }
    Instant notBefore = leaf.getNotBefore().toInstant();
    Instant notAfter = leaf.getNotAfter().toInstant();
    Instant refresh = beginRefreshAt(notBefore, notAfter, random.nextDouble());
    PodCertificateRequestStatus status = new PodCertificateRequestStatus();
    status.setConditions(List.of(condition(ISSUED, ISSUED_REASON, "issued for " + Bounded.list(issue.names())
        + ", valid until " + notAfter, now, cached.getMetadata().getGeneration())));
    status.setCertificateChain(Pem.encodeCertificates(List.of(leaf, signing.certificate())));
    status.setNotBefore(notBefore.toString());
    status.setNotAfter(notAfter.toString());
    status.setBeginRefreshAt(refresh.toString());
    PodCertificateRequest issuedCopy = new PodCertificateRequestBuilder(copy).build();
    issuedCopy.setStatus(status);
    try {
      client.resources(PodCertificateRequest.class).inNamespace(copy.getMetadata().getNamespace())
          .resource(issuedCopy).updateStatus();
    } catch (KubernetesClientException e) {
      if (e.getCode() != 422) {
        throw e;
      }
      // The API server's status validation refused what was issued (e.g. this signer's clock is more
      // than 5 minutes off the API server's): signing again would be refused again.
      return failed(key, copy, STATUS_REJECTED, "the API server refused the issued certificate: "
          + (e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage() : e.getMessage())
          + "; check the signer's clock and --max-ttl", now);
    }
    written.add(key);
    LOG.info("issued PodCertificateRequest {} (Pod {}): {}, serial {}, notAfter {}, beginRefreshAt {}", key,
        spec.getPodName(), Bounded.list(issue.names()), leaf.getSerialNumber().toString(16), notAfter, refresh);
    listener.podCertificateIssued(key, leaf, sinceCreation(cached, now));
    return WorkQueue.Outcome.DONE;
  }

  private WorkQueue.Outcome failed(String key, PodCertificateRequest copy, String reason, String message, Instant now) {
    writeTerminal(copy, FAILED, reason, message, now);
    written.add(key);
    LOG.warn("failed PodCertificateRequest {}: {} ({})", key, reason, message);
    listener.podCertificateFailed(key, reason);
    return WorkQueue.Outcome.DONE;
  }

  private void writeTerminal(PodCertificateRequest copy, String type, String reason, String message, Instant now) {
    // Denied and Failed carry the condition and nothing else (the API server's rule).
    PodCertificateRequestStatus status = new PodCertificateRequestStatus();
    List<Condition> conditions = new ArrayList<>();
    if (copy.getStatus() != null && copy.getStatus().getConditions() != null) {
      conditions.addAll(copy.getStatus().getConditions());
    }
    conditions.add(condition(type, reason, message, now, copy.getMetadata().getGeneration()));
    status.setConditions(conditions);
    copy.setStatus(status);
    client.resources(PodCertificateRequest.class).inNamespace(copy.getMetadata().getNamespace()).resource(copy)
        .updateStatus();
  }

  /**
   * The jittered 70-90 % point of {@code notBefore..notAfter} that {@code sample} (in [0, 1))
   * selects, in whole seconds, moved inside [notBefore + 10 min, notAfter - 10 min].
   */
  static Instant beginRefreshAt(Instant notBefore, Instant notAfter, double sample) {
    Instant at = RotationPolicy.defaults().renewalTime(notBefore, notAfter, sample).truncatedTo(ChronoUnit.SECONDS);
    Instant earliest = notBefore.plus(REFRESH_MARGIN);
    Instant latest = notAfter.minus(REFRESH_MARGIN);
    if (at.isAfter(latest)) {
      at = latest;
    }
    if (at.isBefore(earliest)) {
      at = earliest;
    }
    return at;
  }

  private static Condition condition(String type, String reason, String message, Instant now, Long generation) {
    return new ConditionBuilder().withType(type).withStatus("True").withReason(reason)
        .withMessage(Bounded.message(message)).withLastTransitionTime(now.truncatedTo(ChronoUnit.SECONDS).toString())
        .withObservedGeneration(generation)
        .build();
  }

  private WorkQueue.Outcome onApiError(String key, KubernetesClientException e) {
    int code = e.getCode();
    if (code == 409) {
      LOG.debug("PodCertificateRequest {} changed while being processed; looking again", key);
      listener.conflict(key);
      return WorkQueue.Outcome.RETRY_NOW;
    }
    if (code == 404) {
      return WorkQueue.Outcome.DONE;
    }
    if (code == 403) {
      LOG.error("PodCertificateRequest {}: forbidden ({}); check the signer's RBAC", key, e.getMessage());
    } else {
      LOG.warn("PodCertificateRequest {}: API error {} ({}); will retry", key, code, e.getMessage());
    }
    return WorkQueue.Outcome.RETRY_BACKOFF;
  }

  private static Duration sinceCreation(PodCertificateRequest request, Instant now) {
    String created = request.getMetadata().getCreationTimestamp();
    if (created == null) {
      return Duration.ZERO;
    }
    try {
      Duration d = Duration.between(Instant.parse(created), now);
      return d.isNegative() ? Duration.ZERO : d;
    } catch (java.time.format.DateTimeParseException e) {
      return Duration.ZERO;
    }
  }

  /** Stops the informer and the workers. */
  @Override
  public void close() {
    queue.close();
    informer.close();
  }
}
