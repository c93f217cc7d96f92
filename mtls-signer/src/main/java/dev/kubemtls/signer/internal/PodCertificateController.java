package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.core.rotation.RotationPolicy;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
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
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the PodCertificateRequests of one signer name in the version the cluster serves
 * ({@code certificates.k8s.io/v1} from Kubernetes 1.37, {@code v1beta1} on 1.35 and 1.36; one
 * {@link PodCertificateApi} adapts the version's model): the requests the kubelet creates, as the
 * node, for a Pod's {@code podCertificate} projected volume.
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
 *
 * @param <T> fabric8's PodCertificateRequest class of the served version
 */
public final class PodCertificateController<T extends HasMetadata> implements AutoCloseable {

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
  private final PodCertificateApi<T> api;
  private final String signerName;
  private final PodCertificateRules rules;
  private final Supplier<CertificateAuthority> ca;
  private final ClusterView cluster;
  private final InstantSource clock;
  private final Random random;
  private final SignerListener listener;
  private final SharedIndexInformer<T> informer;
  private final WorkQueue queue;
  /** Requests whose final status this controller wrote and whose cached copy has not caught up yet. */
  private final java.util.Set<String> written = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /**
   * A controller for the PodCertificateRequests of {@code version} ({@code "v1"} or
   * {@code "v1beta1"}, as {@code CertificatesApi.requireServed} finds it).
   *
   * @param cluster where the Pod and its namespace's Services are read (live reads: the request is
   *     judged on the current Pod)
   * @param random  the jitter of {@code beginRefreshAt}
   */
  public static PodCertificateController<?> forVersion(String version, KubernetesClient client, String signerName,
      PodCertificateRules rules, Supplier<CertificateAuthority> ca, ClusterView cluster, InstantSource clock,
      Random random, int workers, Duration resync, SignerListener listener) {
    return new PodCertificateController<>(PodCertificateApi.forVersion(version), client, signerName, rules, ca,
        cluster, clock, random, workers, resync, listener);
  }

  private PodCertificateController(PodCertificateApi<T> api, KubernetesClient client, String signerName,
      PodCertificateRules rules, Supplier<CertificateAuthority> ca, ClusterView cluster, InstantSource clock,
      Random random, int workers, Duration resync, SignerListener listener) {
    this.api = Objects.requireNonNull(api, "api");
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
    this.informer = client.resources(api.type()).inAnyNamespace()
        .withField("spec.signerName", signerName)
        .runnableInformer(resync.toMillis());
    informer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(T request) {
        enqueue(request);
      }

      @Override
      public void onUpdate(T oldRequest, T request) {
        enqueue(request);
      }

      @Override
      public void onDelete(T request, boolean unknownFinalState) {
        written.remove(request.getMetadata().getNamespace() + "/" + request.getMetadata().getName());
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

  private void enqueue(T request) {
    PodCertificateApi.View view = api.view(request);
    if (!signerName.equals(view.signerName()) || view.terminal()) {
      return;
    }
    queue.add(view.key());
  }

  WorkQueue.Outcome process(String key) {
    T cached = informer.getStore().getByKey(key);
    PodCertificateApi.View view = cached == null ? null : api.view(cached);
    if (view == null || !signerName.equals(view.signerName()) || view.terminal()) {
      written.remove(key);
      return WorkQueue.Outcome.DONE;
    }
    if (written.contains(key)) {
      return WorkQueue.Outcome.DONE;
    }
    try {
      return handle(key, cached, view);
    } catch (KubernetesClientException e) {
      return onApiError(key, e);
    }
  }

  private WorkQueue.Outcome handle(String key, T cached, PodCertificateApi.View view) {
    PodCertificateRules.Decision decision = rules.decide(view.request(), cluster);
    Instant now = clock.instant();
    if (decision instanceof PodCertificateRules.Deny deny) {
      writeTerminal(cached, view, DENIED, deny.reason(), deny.message(), now);
      written.add(key);
      LOG.info("denied PodCertificateRequest {} (Pod {}): {} ({})", key, view.podName(), deny.reason(),
          deny.message());
      listener.podCertificateDenied(key, deny.reason());
      return WorkQueue.Outcome.DONE;
    }
    if (decision instanceof PodCertificateRules.Fail fail) {
      return failed(key, cached, view, fail.reason(), fail.message(), now);
    }
    PodCertificateRules.Issue issue = (PodCertificateRules.Issue) decision;
    CertificateAuthority signing = ca.get();
    X509Certificate leaf;
    try {
      leaf = signing.signPodCertificate(issue.key(), issue.uris(), issue.dnsNames(), issue.ips(), issue.lifetime());
    } catch (SigningException e) {
      return failed(key, cached, view, e.reason(), e.getMessage(), now);
    }
    Instant notBefore = leaf.getNotBefore().toInstant();
    Instant notAfter = leaf.getNotAfter().toInstant();
    Instant refresh = beginRefreshAt(notBefore, notAfter, random.nextDouble());
    PodCertificateApi.Status status = new PodCertificateApi.Status(List.of(condition(ISSUED, ISSUED_REASON,
        "issued for " + Bounded.list(issue.names()) + ", valid until " + notAfter, now, view.generation())),
        Pem.encodeCertificates(List.of(leaf, signing.certificate())), notBefore.toString(), notAfter.toString(),
        refresh.toString());
    try {
      updateStatus(api.withStatus(cached, status));
    } catch (KubernetesClientException e) {
      if (e.getCode() != 422) {
        throw e;
      }
      // The API server's status validation refused what was issued (e.g. this signer's clock is more
      // than 5 minutes off the API server's): signing again would be refused again.
      return failed(key, cached, view, STATUS_REJECTED, "the API server refused the issued certificate: "
          + (e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage() : e.getMessage())
          + "; check the signer's clock and --max-ttl", now);
    }
    written.add(key);
    LOG.info("issued PodCertificateRequest {} (Pod {}): {}, serial {}, notAfter {}, beginRefreshAt {}", key,
        view.podName(), Bounded.list(issue.names()), leaf.getSerialNumber().toString(16), notAfter, refresh);
    listener.podCertificateIssued(key, leaf, sinceCreation(view.creationTimestamp(), now));
    return WorkQueue.Outcome.DONE;
  }

  private void updateStatus(T request) {
    client.resources(api.type()).inNamespace(request.getMetadata().getNamespace()).resource(request).updateStatus();
  }

  private WorkQueue.Outcome failed(String key, T cached, PodCertificateApi.View view, String reason, String message,
      Instant now) {
    writeTerminal(cached, view, FAILED, reason, message, now);
    written.add(key);
    LOG.warn("failed PodCertificateRequest {}: {} ({})", key, reason, message);
    listener.podCertificateFailed(key, reason);
    return WorkQueue.Outcome.DONE;
  }

  private void writeTerminal(T cached, PodCertificateApi.View view, String type, String reason, String message,
      Instant now) {
    // Denied and Failed carry the condition and nothing else (the API server's rule).
    List<Condition> conditions = new ArrayList<>(view.conditions());
    conditions.add(condition(type, reason, message, now, view.generation()));
    updateStatus(api.withStatus(cached, new PodCertificateApi.Status(conditions, null, null, null, null)));
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

  private static Duration sinceCreation(String created, Instant now) {
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
