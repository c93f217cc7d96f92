package dev.kubemtls.core.rotation;

import dev.kubemtls.core.TrustSource;
import java.time.InstantSource;
import java.util.Collection;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.DoubleSupplier;

/**
 * Options of a {@link CertificateManager}, from {@link CertificateManager#builder()}: the issuer,
 * the trust source and the scheduler are required; time, jitter, policy, listeners and final
 * denial reasons have defaults.
 */
public final class CertificateManagerBuilder {
  IdentityIssuer issuer;
  TrustSource trustSource;
  InstantSource clock = InstantSource.system();
  ScheduledExecutorService scheduler;
  Executor listenerExecutor;
  DoubleSupplier jitter;
  RotationPolicy policy = RotationPolicy.defaults();
  ManagerListener listener = ManagerListener.NO_OP;
  Set<String> finalDenialReasons = Set.of();

  CertificateManagerBuilder() {}

  /**
   * Denial reasons that no further attempt can change (the approver's answer depends only on what
   * this workload asks for and who it is). A first issuance denied with one of them ends at once:
   * no further attempt, and {@link CertificateManager#awaitReady} throws the denial. Renewals,
   * with a certificate still being served, keep retrying whatever the reason. None by default
   * (every denial is retried); {@code KubeMtls} passes kube-mtls' approver's final reasons.
   */
  public CertificateManagerBuilder finalDenialReasons(Collection<String> reasons) {
    this.finalDenialReasons = Set.copyOf(reasons);
    return this;
  }

  /** Obtains each identity (required). */
  public CertificateManagerBuilder issuer(IdentityIssuer issuer) {
    this.issuer = Objects.requireNonNull(issuer, "issuer");
    return this;
  }

  /** The CAs to trust and their changes (required). */
  public CertificateManagerBuilder trust(TrustSource trustSource) {
    this.trustSource = Objects.requireNonNull(trustSource, "trustSource");
    return this;
  }

  /** The clock for validity and scheduling; the system clock by default. */
  public CertificateManagerBuilder clock(InstantSource clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    return this;
  }

  /**
   * Runs issuance, timers and, unless a {@link #listenerExecutor} is given, listener calls
   * (required); it is not shut down by the manager. An issuance blocks one of its threads while it
   * waits for the signer, so give it at least two threads (or a listener executor of its own):
   * with one, a trust change reaches the listeners only when a renewal in flight ends.
   */
  public CertificateManagerBuilder scheduler(ScheduledExecutorService scheduler) {
    this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    return this;
  }

  /**
   * Where listeners are called: the manager queues every listener call and runs them one at a
   * time, in order, as tasks on this executor (any number of threads), never while it holds its
   * lock. The {@linkplain #scheduler scheduler} by default; give a separate one when listeners
   * may take long, so they do not hold up the scheduler's timers. It is not shut down by the
   * manager.
   */
  public CertificateManagerBuilder listenerExecutor(Executor listenerExecutor) {
    this.listenerExecutor = Objects.requireNonNull(listenerExecutor, "listenerExecutor");
    return this;
  }

  /** Numbers in {@code [0, 1)} for jitter; a new {@link java.util.SplittableRandom} by default. */
  public CertificateManagerBuilder jitter(DoubleSupplier jitter) {
    this.jitter = Objects.requireNonNull(jitter, "jitter");
    return this;
  }

  public CertificateManagerBuilder policy(RotationPolicy policy) {
    this.policy = Objects.requireNonNull(policy, "policy");
    return this;
  }

  public CertificateManagerBuilder listener(ManagerListener listener) {
    this.listener = Objects.requireNonNull(listener, "listener");
    return this;
  }

  /** @throws NullPointerException naming a required option that is missing */
  public CertificateManager build() {
    Objects.requireNonNull(issuer, "issuer is required");
    Objects.requireNonNull(trustSource, "trust source is required");
    Objects.requireNonNull(scheduler, "scheduler is required");
    if (jitter == null) {
      java.util.SplittableRandom random = new java.util.SplittableRandom();
      jitter = () -> {
        synchronized (random) {
          return random.nextDouble();
        }
      };
    }
    return new CertificateManager(this);
  }
}
