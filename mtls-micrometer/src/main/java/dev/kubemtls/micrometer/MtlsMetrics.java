package dev.kubemtls.micrometer;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.IssuanceTimeoutException;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.rotation.Health;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Micrometer meters for one kube-mtls workload: when its certificate expires and is renewed, how
 * its renewals and trust changes went, and how the handshakes of its servers and clients end.
 *
 * <p>Who feeds what: the certificate manager tells {@link #managerListener()} of every issuance,
 * failure, expiry and trust change (counters and the issuance timer); the TLS integrations tell
 * {@link #tlsListener()} of every handshake (counters by side and failure class, a duration timer);
 * {@link #bind(MaterialSource)} adds gauges that read the current snapshot whenever the registry is
 * scraped (not-after, seconds left, seconds to the next renewal attempt, trust anchors, ready).
 * Times are read from the injected clock, so the gauges agree with the manager's own view. One
 * {@code MtlsMetrics} serves one identity; give a second one its own {@linkplain Builder#tags tags}.
 *
 * <pre>{@code
 * MtlsMetrics metrics = MtlsMetrics.builder(registry).build();
 * KubeMtls tls = KubeMtls.forWorkload(client).signerName("kube-mtls.dev/workload")
 *     .listener(metrics.managerListener()).start();
 * metrics.bind(tls);
 * ServerTls server = NettyMtls.forServer(tls).listener(metrics.tlsListener()).build();
 * }</pre>
 *
 * <p>Tags are bounded: sides, outcomes and {@link TlsListener.HandshakeFailure} classes, never
 * serial numbers, subjects or peer names. Every meter is registered when this object is built (at
 * zero), so alerts on a counter's rate work before the first event. Listener methods do no more
 * than increment a pre-registered meter: they are safe on Netty event loops and manager threads.
 */
public final class MtlsMetrics {

  /** The prefix of every meter name. */
  public static final String PREFIX = "kubemtls";

  /** How a renewal attempt ended, as the {@code outcome} tag of {@code kubemtls.certificate.renewals}. */
  public enum RenewalOutcome {
    /** A certificate was issued and passed the manager's checks. */
    ISSUED,
    /** The approver denied the request. */
    DENIED,
    /** The signer failed the request, or the CSR was deleted or replaced. */
    FAILED,
    /** The request was not issued in time. */
    TIMED_OUT,
    /** What came back (or was to be published) failed validation. */
    INVALID_MATERIAL,
    /** Anything else, e.g. the API server could not be reached. */
    ERROR;

    String tag() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The outcome for a failed attempt's exception. */
    static RenewalOutcome of(Exception error) {
      if (error instanceof CertificateDeniedException) {
        return DENIED;
      }
      if (error instanceof IssuanceTimeoutException) {
        return TIMED_OUT;
      }
      if (error instanceof CertificateFailedException) {
        return FAILED;
      }
      if (error instanceof InvalidMaterialException) {
        return INVALID_MATERIAL;
      }
      return ERROR;
    }
  }

  private final MeterRegistry registry;
  private final Tags tags;
  private final InstantSource clock;

  private final Map<RenewalOutcome, Counter> renewals = new EnumMap<>(RenewalOutcome.class);
  private final Timer issuance;
  private final Counter expirations;
  private final Counter trustAccepted;
  private final Counter trustRejected;
  private final Map<TlsListener.Side, Counter> handshakesSucceeded = new EnumMap<>(TlsListener.Side.class);
  private final Map<TlsListener.Side, Map<TlsListener.HandshakeFailure, Counter>> handshakesFailed =
      new EnumMap<>(TlsListener.Side.class);
  private final Map<TlsListener.Side, Timer> handshakeSucceededTime = new EnumMap<>(TlsListener.Side.class);
  private final Map<TlsListener.Side, Timer> handshakeFailedTime = new EnumMap<>(TlsListener.Side.class);
  private final Map<TlsListener.HandshakeFailure, Counter> requestsRefused =
      new EnumMap<>(TlsListener.HandshakeFailure.class);

  private volatile Instant nextAttempt;
  private boolean bound;

  private MtlsMetrics(Builder b) {
    this.registry = b.registry;
    this.tags = b.tags;
    this.clock = b.clock;
    for (RenewalOutcome outcome : RenewalOutcome.values()) {
      renewals.put(outcome, Counter.builder(PREFIX + ".certificate.renewals")
          .description("Certificate issuance attempts by how they ended")
          .tags(tags).tag("outcome", outcome.tag()).register(registry));
    }
    issuance = Timer.builder(PREFIX + ".certificate.issuance")
        .description("From the start of an issuance attempt to a checked certificate")
        .tags(tags).tag("outcome", RenewalOutcome.ISSUED.tag()).register(registry);
    expirations = Counter.builder(PREFIX + ".certificate.expirations")
        .description("Times the current certificate reached notAfter without a replacement")
        .tags(tags).register(registry);
    trustAccepted = Counter.builder(PREFIX + ".trust.changes").description("Trust bundle changes by outcome")
        .tags(tags).tag("outcome", "accepted").register(registry);
    trustRejected = Counter.builder(PREFIX + ".trust.changes").description("Trust bundle changes by outcome")
        .tags(tags).tag("outcome", "rejected").register(registry);
    for (TlsListener.Side side : TlsListener.Side.values()) {
      String sideTag = side.name().toLowerCase(java.util.Locale.ROOT);
      handshakesSucceeded.put(side, handshakeCounter(sideTag, "succeeded", "none"));
      Map<TlsListener.HandshakeFailure, Counter> failed = new EnumMap<>(TlsListener.HandshakeFailure.class);
      for (TlsListener.HandshakeFailure failure : TlsListener.HandshakeFailure.values()) {
        failed.put(failure, handshakeCounter(sideTag, "failed", failureTag(failure)));
      }
      handshakesFailed.put(side, failed);
      handshakeSucceededTime.put(side, handshakeTimer(sideTag, "succeeded"));
      handshakeFailedTime.put(side, handshakeTimer(sideTag, "failed"));
    }
    for (TlsListener.HandshakeFailure failure : TlsListener.HandshakeFailure.values()) {
      requestsRefused.put(failure, Counter.builder(PREFIX + ".tls.requests.refused")
          .description("Requests refused by a per-request peer check after a successful handshake")
          .tags(tags).tag("failure", failureTag(failure)).register(registry));
    }
  }

  /** Starts configuring meters in {@code registry}. */
  public static Builder builder(MeterRegistry registry) {
    return new Builder(registry);
  }

  private Counter handshakeCounter(String side, String outcome, String failure) {
    return Counter.builder(PREFIX + ".tls.handshakes").description("TLS handshakes by side and outcome")
        .tags(tags).tag("side", side).tag("outcome", outcome).tag("failure", failure).register(registry);
  }

  private Timer handshakeTimer(String side, String outcome) {
    return Timer.builder(PREFIX + ".tls.handshake.duration")
        .description("From the start of a TLS handshake to its outcome")
        .tags(tags).tag("side", side).tag("outcome", outcome).register(registry);
  }

  private static String failureTag(TlsListener.HandshakeFailure failure) {
    return failure.name().toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * Gauges over {@code source}'s current snapshot, read at each scrape: the certificate's
   * {@code notAfter} (seconds since the epoch), the seconds until then (negative once expired),
   * the seconds until the next renewal attempt that {@link #managerListener()} heard of, the number
   * of CAs in the trust bundle, and, where {@code source} is a {@link Health}, whether it is ready.
   * Before the first snapshot the value gauges read {@code NaN}.
   *
   * @return this
   */
  public synchronized MtlsMetrics bind(MaterialSource source) {
    Objects.requireNonNull(source, "source");
    if (bound) {
      throw new IllegalStateException("these metrics are already bound to a source; build another MtlsMetrics"
          + " with its own tags for a second identity");
    }
    bound = true;
    Gauge.builder(PREFIX + ".certificate.not.after", source,
            s -> s.currentIfReady().map(m -> m.identity().notAfter().toEpochMilli() / 1000.0).orElse(Double.NaN))
        .description("notAfter of the current certificate, as seconds since the epoch")
        .baseUnit("seconds").tags(tags).strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".certificate.expiry", source,
            s -> s.currentIfReady().map(m -> secondsUntil(m.identity().notAfter())).orElse(Double.NaN))
        .description("Seconds until the current certificate expires; negative once it has")
        .baseUnit("seconds").tags(tags).strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".certificate.renewal", this,
            m -> Optional.ofNullable(m.nextAttempt).map(m::secondsUntil).orElse(Double.NaN))
        .description("Seconds until the next planned renewal or retry")
        .baseUnit("seconds").tags(tags).strongReference(true).register(registry);
    Gauge.builder(PREFIX + ".trust.anchors", source,
            s -> s.currentIfReady().map(m -> (double) m.trust().certificates().size()).orElse(Double.NaN))
        .description("CA certificates in the trust bundle in use").tags(tags).strongReference(true).register(registry);
    if (source instanceof Health health) {
      Gauge.builder(PREFIX + ".certificate.ready", health, h -> h.isReady() ? 1.0 : 0.0)
          .description("1 while the workload holds an unexpired certificate and a trust bundle")
          .tags(tags).strongReference(true).register(registry);
    }
    return this;
  }

  private double secondsUntil(Instant at) {
    return Duration.between(clock.instant(), at).toMillis() / 1000.0;
  }

  /** A {@link ManagerListener} that counts what the certificate manager reports. */
  public ManagerListener managerListener() {
    return managerListener(ManagerListener.NO_OP);
  }

  /**
   * A {@link ManagerListener} that counts what the certificate manager reports and then passes
   * each event on to {@code next} (for a manager that takes one listener).
   */
  public ManagerListener managerListener(ManagerListener next) {
    Objects.requireNonNull(next, "next");
    return new ManagerListener() {
      @Override
      public void issued(TlsIdentity identity, Duration took) {
        renewals.get(RenewalOutcome.ISSUED).increment();
        issuance.record(took.isNegative() ? Duration.ZERO : took);
        next.issued(identity, took);
      }

      @Override
      public void ready(MtlsMaterial material) {
        next.ready(material);
      }

      @Override
      public void rotated(MtlsMaterial previous, MtlsMaterial current) {
        next.rotated(previous, current);
      }

      @Override
      public void renewalScheduled(TlsIdentity identity, Instant at) {
        nextAttempt = at;
        next.renewalScheduled(identity, at);
      }

      @Override
      public void renewalFailed(Exception error, int attempt, Instant nextAttemptAt) {
        renewals.get(RenewalOutcome.of(error)).increment();
        nextAttempt = nextAttemptAt;
        next.renewalFailed(error, attempt, nextAttemptAt);
      }

      @Override
      public void denied(CertificateDeniedException denial, int attempt, Instant nextAttemptAt) {
        renewals.get(RenewalOutcome.DENIED).increment();
        nextAttempt = nextAttemptAt;
        next.denied(denial, attempt, nextAttemptAt);
      }

      @Override
      public void gaveUp(CertificateDeniedException denial, int attempt) {
        renewals.get(RenewalOutcome.DENIED).increment();
        nextAttempt = null;
        next.gaveUp(denial, attempt);
      }

      @Override
      public void expired(TlsIdentity identity) {
        expirations.increment();
        next.expired(identity);
      }

      @Override
      public void recovered(MtlsMaterial material, Duration downtime) {
        next.recovered(material, downtime);
      }

      @Override
      public void trustChanged(TrustBundle previous, TrustBundle current) {
        trustAccepted.increment();
        next.trustChanged(previous, current);
      }

      @Override
      public void trustRejected(MtlsException problem) {
        trustRejected.increment();
        next.trustRejected(problem);
      }
    };
  }

  /** A {@link TlsListener} that counts and times handshakes and refused requests. */
  public TlsListener tlsListener() {
    return tlsListener(TlsListener.NO_OP);
  }

  /** A {@link TlsListener} that counts and times, then passes each event on to {@code next}. */
  public TlsListener tlsListener(TlsListener next) {
    Objects.requireNonNull(next, "next");
    return new TlsListener() {
      @Override
      public void handshakeSucceeded(Side side, Optional<PeerIdentity> peer, String protocol, String cipherSuite,
          Duration took) {
        handshakesSucceeded.get(side).increment();
        handshakeSucceededTime.get(side).record(took);
        next.handshakeSucceeded(side, peer, protocol, cipherSuite, took);
      }

      @Override
      public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, Duration took) {
        handshakesFailed.get(side).get(reason).increment();
        handshakeFailedTime.get(side).record(took);
        next.handshakeFailed(side, reason, cause, took);
      }

      @Override
      public void requestRefused(HandshakeFailure reason, Optional<PeerIdentity> peer, String detail) {
        requestsRefused.get(reason).increment();
        next.requestRefused(reason, peer, detail);
      }
    };
  }

  /** Options of {@link MtlsMetrics}. */
  public static final class Builder {
    private final MeterRegistry registry;
    private Tags tags = Tags.empty();
    private InstantSource clock = InstantSource.system();

    private Builder(MeterRegistry registry) {
      this.registry = Objects.requireNonNull(registry, "registry");
    }

    /**
     * Tags added to every meter, for example to tell two identities of one process apart. Keep
     * their values few: a tag value per pod or per peer makes a time series per pod or per peer.
     */
    public Builder tags(Iterable<Tag> tags) {
      this.tags = Tags.of(Objects.requireNonNull(tags, "tags"));
      return this;
    }

    /** The clock the gauges measure against; the manager's clock, the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    public MtlsMetrics build() {
      return new MtlsMetrics(this);
    }
  }
}
