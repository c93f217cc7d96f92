package dev.kubemtls.signer.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Micrometer meters for one signer replica: what it saw, approved, denied, issued and failed, how
 * long issuance took, how full its queue is, which CA signs until when, where a CA rotation stands
 * and whether it leads.
 *
 * <p>Who feeds what: the signer tells this object, as its {@link SignerListener}, of every CSR it
 * sees, every verdict, issuance, failure, conflict and CA rotation step (counters and the issuance
 * timer); {@link #bind(Signer)} adds gauges that ask the replica whenever the registry is scraped
 * (leader, ready, queue depth, the signing CA's notAfter, the rotation phase). The names follow
 * the workload meters of {@code mtls-micrometer} ({@code kubemtls.*}), under
 * {@code kubemtls.signer.*}.
 *
 * <pre>{@code
 * PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
 * SignerMetrics metrics = new SignerMetrics(registry);
 * Signer signer = Signer.start(client, config, ca, InstantSource.system(), metrics);
 * metrics.bind(signer);
 * }</pre>
 *
 * <p>Tags are bounded: the {@code reason} of a denial or failure is one of the reasons this signer
 * writes ({@link #DENIAL_REASONS}, {@link #FAILURE_REASONS}) or {@code Other}, never a CSR name,
 * requester or subject. Every counter is registered at zero when this object is built, so a rate
 * alert works before the first event. Listener methods only increment pre-registered meters.
 *
 * <p>With {@code --pod-certificates=true}, PodCertificateRequests are counted apart:
 * {@code kubemtls.signer.podcertificates.issued}, {@code .denied} and {@code .failed} (tagged with
 * the reasons of {@code PodCertificateRules}, or {@code Other}).
 */
public final class SignerMetrics implements SignerListener {

  /** The prefix of every meter name. */
  public static final String PREFIX = "kubemtls.signer";

  /** The {@code reason} tags of {@code kubemtls.signer.csrs.denied}: the approver's reasons. */
  public static final List<String> DENIAL_REASONS = List.of(ApprovalDecision.NOT_SERVICE_ACCOUNT,
      ApprovalDecision.MALFORMED_REQUEST, ApprovalDecision.INVALID_SIGNATURE, ApprovalDecision.CA_NOT_ALLOWED,
      ApprovalDecision.UNEXPECTED_USAGE, ApprovalDecision.EMAIL_NOT_ALLOWED, ApprovalDecision.UNSUPPORTED_NAME,
      ApprovalDecision.SPIFFE_ID_MISMATCH, ApprovalDecision.WILDCARD_NOT_ALLOWED,
      ApprovalDecision.UNAUTHORIZED_DNS_NAME, ApprovalDecision.UNAUTHORIZED_IP_ADDRESS,
      ApprovalDecision.POD_BINDING_REQUIRED, ApprovalDecision.SUBJECT_NOT_ALLOWED, ApprovalDecision.NO_IDENTITY,
      ApprovalDecision.KEY_NOT_ALLOWED, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED,
      ApprovalDecision.TOO_MANY_NAMES, ApprovalDecision.DUPLICATE_NAME, ApprovalDecision.MAPPED_IP_ADDRESS);

  /** The {@code reason} tags of {@code kubemtls.signer.csrs.failed}: the CA's reasons for {@code Failed}. */
  public static final List<String> FAILURE_REASONS = List.of(ApprovalDecision.MALFORMED_REQUEST,
      ApprovalDecision.KEY_NOT_ALLOWED, ApprovalDecision.SIGNATURE_ALGORITHM_NOT_ALLOWED,
      ApprovalDecision.INVALID_SIGNATURE, ApprovalDecision.CA_NOT_ALLOWED, ApprovalDecision.TOO_MANY_NAMES,
      ApprovalDecision.DUPLICATE_NAME, ApprovalDecision.MAPPED_IP_ADDRESS, "UnsupportedUsage", "CaExpired",
      "SigningError");

  /** The tag value for a reason outside those lists. */
  public static final String OTHER = "Other";

  private final MeterRegistry registry;
  private final Counter seen;
  private final Counter approved;
  private final Map<String, Counter> denied = new LinkedHashMap<>();
  private final Map<String, Counter> failed = new LinkedHashMap<>();
  private final Counter issued;
  private final Counter conflicts;
  private final Timer issuance;
  private final Map<CaRotation.Change, Counter> rotations = new LinkedHashMap<>();
  private final Counter caRejected;
  private final Counter podIssued;
  private final Map<String, Counter> podDenied = new LinkedHashMap<>();
  private final Map<String, Counter> podFailed = new LinkedHashMap<>();
  private final Map<String, Counter> bundleRepairs = new LinkedHashMap<>();

  /** Registers the counters and the timer in {@code registry}. */
  public SignerMetrics(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
    seen = Counter.builder(PREFIX + ".csrs.seen")
        .description("CSRs of the signer name that the leader's informer delivered").register(registry);
    approved = Counter.builder(PREFIX + ".csrs.approved").description("CSRs approved").register(registry);
    for (String reason : DENIAL_REASONS) {
      denied.put(reason, Counter.builder(PREFIX + ".csrs.denied").description("CSRs denied, by the approver's reason")
          .tag("reason", reason).register(registry));
    }
    denied.put(OTHER, Counter.builder(PREFIX + ".csrs.denied").description("CSRs denied, by the approver's reason")
        .tag("reason", OTHER).register(registry));
    for (String reason : FAILURE_REASONS) {
      failed.put(reason, Counter.builder(PREFIX + ".csrs.failed").description("CSRs marked Failed, by reason")
          .tag("reason", reason).register(registry));
    }
    failed.put(OTHER, Counter.builder(PREFIX + ".csrs.failed").description("CSRs marked Failed, by reason")
        .tag("reason", OTHER).register(registry));
    issued = Counter.builder(PREFIX + ".csrs.issued").description("certificates written to status.certificate")
        .register(registry);
    conflicts = Counter.builder(PREFIX + ".conflicts")
        .description("writes that lost a race (409 Conflict); the CSR was looked at again").register(registry);
    issuance = Timer.builder(PREFIX + ".issuance.duration")
        .description("from the CSR's creationTimestamp (second precision) to the certificate written")
        .serviceLevelObjectives(Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500),
            Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(5), Duration.ofSeconds(10),
            Duration.ofSeconds(30), Duration.ofSeconds(60))
        .register(registry);
    for (CaRotation.Change change : CaRotation.Change.values()) {
      rotations.put(change, Counter.builder(PREFIX + ".ca.rotation.changes")
          .description("CA rotation steps taken by the leader").tag("change", tag(change.name())).register(registry));
    }
    caRejected = Counter.builder(PREFIX + ".ca.rejected")
        .description("CA Secret contents that could not be used (the working CAs stayed)").register(registry);
    podIssued = Counter.builder(PREFIX + ".podcertificates.issued")
        .description("PodCertificateRequests marked Issued").register(registry);
    for (String reason : concat(dev.kubemtls.signer.internal.PodCertificateRules.DENIAL_REASONS, OTHER)) {
      podDenied.put(reason, Counter.builder(PREFIX + ".podcertificates.denied")
          .description("PodCertificateRequests marked Denied, by reason").tag("reason", reason).register(registry));
    }
    for (String reason : concat(dev.kubemtls.signer.internal.PodCertificateRules.FAILURE_REASONS, OTHER)) {
      podFailed.put(reason, Counter.builder(PREFIX + ".podcertificates.failed")
          .description("PodCertificateRequests marked Failed, by reason").tag("reason", reason).register(registry));
    }
    for (String reason : List.of(TrustBundlePublisher.FOREIGN_BUNDLE, TrustBundlePublisher.IMMUTABLE_BUNDLE)) {
      bundleRepairs.put(reason, Counter.builder(PREFIX + ".trust.bundle.repairs")
          .description("bundle ConfigMaps that held what the signer did not publish and were put back, by reason")
          .tag("reason", reason).register(registry));
    }
  }

  /**
   * Adds the gauges that read {@code signer} at each scrape: {@code kubemtls.signer.leader},
   * {@code kubemtls.signer.ready}, {@code kubemtls.signer.queue.depth},
   * {@code kubemtls.signer.ca.not.after} (NaN on a standby) and
   * {@code kubemtls.signer.ca.rotation.phase} (1 for the current phase, 0 for the others; all 0 on
   * a standby). Bind one signer per registry.
   *
   * @return {@code signer}
   */
  public Signer bind(Signer signer) {
    Objects.requireNonNull(signer, "signer");
    Gauge.builder(PREFIX + ".leader", signer, s -> s.isLeader() ? 1 : 0)
        .description("1 while this replica holds the leader Lease and acts, else 0")
        .strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".ready", signer, s -> s.notReady().isEmpty() ? 1 : 0)
        .description("1 when /readyz answers 200, else 0").strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".queue.depth", signer, Signer::queueDepth)
        .description("CSRs waiting for a worker (0 on a standby)").strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".ca.not.after", signer, s -> s.caRotation()
            .map(r -> r.signing().certificate().getNotAfter().toInstant().toEpochMilli() / 1000.0)
            .orElse(Double.NaN))
        .description("notAfter of the signing CA, as seconds since the epoch (NaN on a standby)")
        .baseUnit("seconds").strongReference(true).register(registry);
    for (CaRotation.Phase phase : CaRotation.Phase.values()) {
      Gauge.builder(PREFIX + ".ca.rotation.phase", signer,
              s -> s.caRotation().map(r -> r.phase() == phase ? 1 : 0).orElse(0))
          .description("1 for the phase the CA rotation is in (steady, propagating, retiring), 0 for the others")
          .tag("phase", tag(phase.name())).strongReference(true).register(registry);
    }
    return signer;
  }

  private static List<String> concat(List<String> reasons, String other) {
    List<String> all = new java.util.ArrayList<>(reasons);
    all.add(other);
    return all;
  }

  @Override
  public void podCertificateIssued(String request, X509Certificate certificate, Duration sinceCreation) {
    podIssued.increment();
  }

  @Override
  public void podCertificateDenied(String request, String reason) {
    podDenied.getOrDefault(reason, podDenied.get(OTHER)).increment();
  }

  @Override
  public void podCertificateFailed(String request, String reason) {
    podFailed.getOrDefault(reason, podFailed.get(OTHER)).increment();
  }

  @Override
  public void trustBundleRepaired(String configMap, String reason) {
    Counter counter = bundleRepairs.get(reason);
    if (counter != null) {
      counter.increment();
    }
  }

  private static String tag(String enumName) {
    return enumName.toLowerCase(Locale.ROOT);
  }

  @Override
  public void seen(String csrName) {
    seen.increment();
  }

  @Override
  public void decided(String csrName, ApprovalDecision decision) {
    if (decision.approved()) {
      approved.increment();
    } else {
      denied.getOrDefault(decision.reason(), denied.get(OTHER)).increment();
    }
  }

  @Override
  public void issued(String csrName, X509Certificate certificate, Duration sinceCreation) {
    issued.increment();
    issuance.record(sinceCreation);
  }

  @Override
  public void failed(String csrName, String reason) {
    failed.getOrDefault(reason, failed.get(OTHER)).increment();
  }

  @Override
  public void conflict(String csrName) {
    conflicts.increment();
  }

  @Override
  public void caRotation(CaRotation.Change change, CaRotation state) {
    rotations.get(change).increment();
  }

  @Override
  public void caRejected(String problem) {
    caRejected.increment();
  }
}
