package dev.kubemtls.kubernetes;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.rotation.ManagerListener;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records what the certificate manager reports as Kubernetes Events on the workload's own Pod, so
 * that {@code kubectl describe pod} and {@code kubectl get events} show when its certificate was
 * issued, why a renewal failed or was denied, that it expired, or that a trust change was held
 * back. {@link KubeMtls} wires one when the pod name is known ({@code POD_NAME}); the pod UID
 * ({@code POD_UID}, downward API {@code metadata.uid}) makes {@code kubectl describe pod} find them.
 *
 * <p>Reasons ({@code Normal} for the first, {@code Warning} for the others): {@value #ISSUED},
 * {@value #RENEWAL_FAILED}, {@value #DENIED}, {@value #EXPIRED}, {@value #TRUST_HELD_BACK}.
 *
 * <p>A retry storm does not become an Event storm: per reason, at most one Event is written per
 * window (ten minutes by default); repeats within the window are counted and the next Event after
 * it says how many there were. Events are written from one background thread, started when there is one to
 * write and ended a second after the last (the manager is never delayed; beyond 100 waiting, Events
 * are dropped). It needs only {@code create} on {@code events}
 * in the Pod's namespace ({@code kube-mtls-workload-events} in {@code workload-rbac.yaml}); on a 403
 * it logs once and records nothing more, and the workload works as before. Recorders started later
 * through the same client for the same namespace, within the window after that 403, do not ask again.
 */
public final class PodEvents implements ManagerListener, AutoCloseable {

  /** A certificate was issued (first one or renewal). */
  public static final String ISSUED = "CertificateIssued";
  /** A renewal attempt failed (not a denial). */
  public static final String RENEWAL_FAILED = "CertificateRenewalFailed";
  /** The approver denied a request. */
  public static final String DENIED = "CertificateDenied";
  /** The certificate ran out without a replacement. */
  public static final String EXPIRED = "CertificateExpired";
  /** A new trust bundle was not used; the previous one stays. */
  public static final String TRUST_HELD_BACK = "TrustChangeHeldBack";
  /** The Events' {@code source.component} and {@code reportingComponent}. */
  public static final String COMPONENT = "kube-mtls";
  /** The default window within which repeats of a reason are only counted. */
  public static final Duration DEFAULT_WINDOW = Duration.ofMinutes(10);

  private static final Logger LOG = LoggerFactory.getLogger(PodEvents.class);
  /** How long the writing thread waits for another Event before it ends (a new one starts on demand). */
  private static final long IDLE_SECONDS = 1;
  private static final DateTimeFormatter RFC3339 = DateTimeFormatter.ISO_OFFSET_DATE_TIME.withZone(ZoneOffset.UTC);

  private final KubernetesClient client;
  private final String namespace;
  private final String podName;
  private final String podUid;
  private final InstantSource clock;
  private final Duration window;
  private final ThreadPoolExecutor executor;
  private final AtomicBoolean forbidden = new AtomicBoolean();
  /**
   * Per client, the namespaces where creating an Event was refused (403), and when: the recorders that
   * follow through the same client into the same namespace within {@link #window} do not ask again
   * (a workload started again and again would otherwise pay a refused request, and log it, every time).
   * Weak keys. Guarded by itself.
   */
  private static final Map<KubernetesClient, Map<String, Instant>> REFUSED =
      java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());
  private final Map<String, Instant> lastWritten = new HashMap<>();
  private final Map<String, Integer> suppressed = new HashMap<>();

  /**
   * @param client    acts as the workload (needs create on events in {@code namespace})
   * @param namespace the Pod's namespace
   * @param podName   the Pod's name
   * @param podUid    the Pod's UID, or null if unknown ({@code kubectl describe pod} then does not list the Events)
   * @param clock     decides the windows and stamps the Events
   * @param window    within this, repeats of a reason are counted, not written
   */
  public PodEvents(KubernetesClient client, String namespace, String podName, String podUid, InstantSource clock,
      Duration window) {
    this.client = Objects.requireNonNull(client, "client");
    this.namespace = Objects.requireNonNull(namespace, "namespace");
    this.podName = Objects.requireNonNull(podName, "podName");
    this.podUid = podUid == null || podUid.isBlank() ? null : podUid;
    this.clock = Objects.requireNonNull(clock, "clock");
    this.window = Objects.requireNonNull(window, "window");
    this.executor = new ThreadPoolExecutor(1, 1, IDLE_SECONDS, TimeUnit.SECONDS, new ArrayBlockingQueue<>(100), r -> {
      Thread t = new Thread(r, "kube-mtls-pod-events");
      t.setDaemon(true);
      return t;
    }, new ThreadPoolExecutor.DiscardPolicy());
    // Events are rare (an issuance a day, problems): the thread ends when idle, and with it what it
    // holds (its JSON buffers), instead of living as long as the workload.
    this.executor.allowCoreThreadTimeOut(true);
  }

  @Override
  public void issued(TlsIdentity identity, Duration took) {
    record("Normal", ISSUED, "issued certificate serial " + identity.leaf().getSerialNumber().toString(16)
        + ", notAfter " + identity.notAfter() + " (took " + took.toMillis() + " ms)");
  }

  @Override
  public void renewalFailed(Exception error, int attempt, Instant nextAttempt) {
    record("Warning", RENEWAL_FAILED, "attempt " + attempt + " failed: " + error.getMessage()
        + "; next attempt at " + nextAttempt);
  }

  @Override
  public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
    record("Warning", DENIED, "attempt " + attempt + " denied: " + denial.getMessage() + "; next attempt at "
        + nextAttempt);
  }

  @Override
  public void gaveUp(CertificateDeniedException denial, int attempt) {
    record("Warning", DENIED, "attempt " + attempt + " denied: " + denial.getMessage()
        + "; no further attempt: the reason cannot change without a change to this workload");
  }

  @Override
  public void expired(TlsIdentity identity) {
    record("Warning", EXPIRED, "certificate serial " + identity.leaf().getSerialNumber().toString(16)
        + " expired at " + identity.notAfter() + " without a replacement; not ready");
  }

  @Override
  public void trustRejected(MtlsException problem) {
    record("Warning", TRUST_HELD_BACK, "a new trust bundle was not used, the previous one stays: "
        + problem.getMessage());
  }

  @Override
  public void trustChanged(TrustBundle previous, TrustBundle current) {
    // Normal operation (CA rotation); metrics count it, Events stay for what someone should look at.
  }

  private void record(String type, String reason, String message) {
    if (forbidden.get()) {
      return;
    }
    Instant now = clock.instant();
    if (refusedRecently(now)) {
      forbidden.set(true);
      LOG.debug("not recording Events on Pod {}/{}: creating one was refused (403) in the last {} min", namespace,
          podName, window.toMinutes());
      return;
    }
    int repeats;
    synchronized (this) {
      Instant last = lastWritten.get(reason);
      if (last != null && now.isBefore(last.plus(window))) {
        suppressed.merge(reason, 1, Integer::sum);
        return;
      }
      lastWritten.put(reason, now);
      Integer r = suppressed.remove(reason);
      repeats = r == null ? 0 : r;
    }
    String text = repeats == 0 ? message
        : message + " (and " + repeats + " more like it in the " + window.toMinutes() + " min before)";
    Event event = event(type, reason, text, now);
    try {
      executor.execute(() -> write(event));
    } catch (RejectedExecutionException e) {
      // Closed.
    }
  }

  private Event event(String type, String reason, String message, Instant now) {
    String stamp = RFC3339.format(now.truncatedTo(ChronoUnit.SECONDS));
    String clipped = message.length() > 1024 ? message.substring(0, 1021) + "..." : message;
    return new EventBuilder()
        .withNewMetadata().withNamespace(namespace)
        .withGenerateName((podName.length() > 200 ? podName.substring(0, 200) : podName) + ".").endMetadata()
        .withNewInvolvedObject().withKind("Pod").withApiVersion("v1").withNamespace(namespace).withName(podName)
        .withUid(podUid).endInvolvedObject()
        .withType(type).withReason(reason).withMessage(clipped)
        .withNewSource().withComponent(COMPONENT).endSource()
        .withReportingComponent(COMPONENT).withReportingInstance(podName)
        .withFirstTimestamp(stamp).withLastTimestamp(stamp).withCount(1)
        .build();
  }

  private void write(Event event) {
    if (forbidden.get()) {
      return;
    }
    try {
      client.v1().events().inNamespace(namespace).resource(event).create();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 403) {
        synchronized (REFUSED) {
          REFUSED.computeIfAbsent(client, c -> new HashMap<>()).put(namespace, clock.instant());
        }
        if (forbidden.compareAndSet(false, true)) {
          LOG.warn("cannot record Events on Pod {}/{} (403: no create on events in the namespace); going on"
              + " without them. Bind the ClusterRole kube-mtls-workload-events in the namespace to see"
              + " issuance and renewal problems in 'kubectl describe pod'.", namespace, podName);
        }
      } else {
        LOG.debug("Event {} on Pod {}/{} dropped: {}", event.getReason(), namespace, podName, e.toString());
      }
    } catch (RuntimeException e) {
      LOG.debug("Event {} on Pod {}/{} dropped: {}", event.getReason(), namespace, podName, e.toString());
    }
  }

  /** Whether creating an Event through this client in this namespace was refused within the window. */
  private boolean refusedRecently(Instant now) {
    synchronized (REFUSED) {
      Instant at = REFUSED.getOrDefault(client, Map.of()).get(namespace);
      return at != null && now.isBefore(at.plus(window)) && !now.isBefore(at);
    }
  }

  /**
   * Whether a 403 stopped the recording: this recorder's, or one through the same client and namespace
   * within the window.
   */
  public boolean isForbidden() {
    return forbidden.get();
  }

  /** Stops recording; Events already queued are written first, for at most a second. */
  @Override
  public void close() {
    executor.shutdown();
    try {
      executor.awaitTermination(1, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
