package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.InstantSource;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records a Kubernetes Event ({@code v1} core Event, type {@code Warning}) on a CSR when the signer
 * denies or fails it, so that {@code kubectl describe csr} and {@code kubectl get events} show why.
 *
 * <p>A CSR is cluster-scoped and Events are namespaced: like client-go's event recorder, the Event
 * goes into the namespace {@code default} with {@code involvedObject} the CSR (kind, apiVersion,
 * name, uid), which is where {@code kubectl describe csr} finds it. Events are written from one
 * background thread so that a worker never waits for them; at most 1000 wait, more are dropped
 * (as client-go does). A 403 is logged once and then no Event is tried again: the signer works
 * without the permission. Other errors drop the Event with a debug log.
 *
 * <p>Per requester ({@code spec.username}) at most {@link #BURST} Events are written at once and one
 * more per {@link #REFILL}, like client-go's event spam filter: a requester that floods the signer
 * with requests it denies cannot turn each into a second API write; its conditions still say why.
 */
public class CsrEvents implements AutoCloseable {

  /** Records nothing. */
  public static final CsrEvents NONE = new CsrEvents();

  /** Where Events about cluster-scoped objects go, as with client-go's recorder. */
  public static final String NAMESPACE = "default";
  /** The {@code source.component} and {@code reportingComponent} of the signer's Events. */
  public static final String COMPONENT = "kube-mtls-signer";

  private static final Logger LOG = LoggerFactory.getLogger(CsrEvents.class);
  private static final DateTimeFormatter RFC3339 = DateTimeFormatter.ISO_OFFSET_DATE_TIME.withZone(ZoneOffset.UTC);

  private final KubernetesClient client;
  private final String instance;
  private final InstantSource clock;
  private final ThreadPoolExecutor executor;
  private final AtomicBoolean forbidden = new AtomicBoolean();
  /** Events each requester may still write, and when its bucket was last refilled. */
  private final java.util.Map<String, long[]> buckets = new java.util.LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(java.util.Map.Entry<String, long[]> eldest) {
      return size() > 4096;
    }
  };

  /** Events one requester may write at once. */
  public static final int BURST = 25;
  /** One more Event per requester per this interval. */
  public static final java.time.Duration REFILL = java.time.Duration.ofSeconds(5);

  private CsrEvents() {
    this.client = null;
    this.instance = null;
    this.clock = null;
    this.executor = null;
  }

  /**
   * @param client   acts as the signer (needs create on events in {@value #NAMESPACE})
   * @param instance this replica, the Events' {@code reportingInstance}
   * @param clock    the Events' timestamps
   */
  public CsrEvents(KubernetesClient client, String instance, InstantSource clock) {
    this.client = Objects.requireNonNull(client, "client");
    this.instance = Objects.requireNonNull(instance, "instance");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(1000), r -> {
      Thread t = new Thread(r, "kube-mtls-signer-events");
      t.setDaemon(true);
      return t;
    }, new ThreadPoolExecutor.DiscardPolicy());
  }

  /** The approver denied {@code csr} with {@code reason}. */
  public void denied(CertificateSigningRequest csr, String reason, String message) {
    record(csr, reason, "Denied: " + message);
  }

  /** The signer marked {@code csr} Failed with {@code reason}. */
  public void failed(CertificateSigningRequest csr, String reason, String message) {
    record(csr, reason, "Failed: " + message);
  }

  private void record(CertificateSigningRequest csr, String reason, String message) {
    if (executor == null || forbidden.get() || csr == null || csr.getMetadata() == null) {
      return;
    }
    String requester = csr.getSpec() == null || csr.getSpec().getUsername() == null ? "" : csr.getSpec().getUsername();
    if (!take(requester)) {
      return;
    }
    Event event = event(csr, reason, message);
    try {
      executor.execute(() -> write(event));
    } catch (RejectedExecutionException e) {
      // Closed: the replica stopped leading.
    }
  }

  /** Whether {@code requester} may write one more Event now (a token bucket on the injected clock). */
  synchronized boolean take(String requester) {
    long now = clock.millis();
    long[] b = buckets.computeIfAbsent(requester, r -> new long[] {BURST, now});
    long refills = (now - b[1]) / REFILL.toMillis();
    if (refills > 0) {
      b[0] = Math.min(BURST, b[0] + refills);
      b[1] += refills * REFILL.toMillis();
    }
    if (b[0] == 0) {
      return false;
    }
    b[0]--;
    return true;
  }

  private Event event(CertificateSigningRequest csr, String reason, String message) {
    String now = RFC3339.format(clock.instant().truncatedTo(ChronoUnit.SECONDS));
    String name = csr.getMetadata().getName();
    return new EventBuilder()
        .withNewMetadata().withNamespace(NAMESPACE)
        .withGenerateName((name.length() > 200 ? name.substring(0, 200) : name) + ".").endMetadata()
        .withNewInvolvedObject().withKind("CertificateSigningRequest").withApiVersion("certificates.k8s.io/v1")
        .withName(name).withUid(csr.getMetadata().getUid()).withResourceVersion(csr.getMetadata().getResourceVersion())
        .endInvolvedObject()
        .withType("Warning").withReason(reason).withMessage(Bounded.message(message))
        .withNewSource().withComponent(COMPONENT).endSource()
        .withReportingComponent(COMPONENT).withReportingInstance(instance)
        .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
        .build();
  }

  private void write(Event event) {
    if (forbidden.get()) {
      return;
    }
    try {
      client.v1().events().inNamespace(NAMESPACE).resource(event).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 403) {
        if (forbidden.compareAndSet(false, true)) {
          LOG.warn("cannot record Events on CSRs (403: the signer may not create events in namespace {}); the signer"
              + " goes on without them. Grant it as deploy/signer-rbac.yaml does to see denials and failures"
              + " in 'kubectl describe csr'.", NAMESPACE);
        }
      } else {
        LOG.debug("Event on CSR {} dropped: {}", event.getInvolvedObject().getName(), e.toString());
      }
    } catch (RuntimeException e) {
      LOG.debug("Event on CSR {} dropped: {}", event.getInvolvedObject().getName(), e.toString());
    }
  }

  /**
   * Stops recording without waiting: a replica that loses the Lease must stop acting at once, and
   * Events already queued are still written by the background thread (they describe verdicts that
   * were written).
   */
  @Override
  public void close() {
    if (executor == null) {
      return;
    }
    executor.shutdown();
  }
}
