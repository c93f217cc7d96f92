package dev.kubemtls.core.rotation;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * An {@link IdentityIssuer} that follows a script: each call takes the next step (issue a real
 * certificate from a {@link TestCa}, fail, deny, or block until interrupted), and when the script
 * runs out it repeats the default step.
 */
final class ScriptedIssuer implements IdentityIssuer {

  interface Step {
    TlsIdentity run(long generation) throws InterruptedException;
  }

  private final MutableClock clock;
  private volatile TestCa ca;
  private final Deque<Step> script = new ArrayDeque<>();
  private final List<Long> generations = new ArrayList<>();
  private Step defaultStep;
  final CountDownLatch blocked = new CountDownLatch(1);
  volatile boolean sawInterrupt;

  ScriptedIssuer(MutableClock clock, TestCa ca) {
    this.clock = clock;
    this.ca = ca;
    this.defaultStep = issue(Duration.ofHours(1));
  }

  /** Certificates from now on come from {@code newCa}. */
  void switchCa(TestCa newCa) {
    this.ca = newCa;
  }

  synchronized ScriptedIssuer then(Step step) {
    script.add(step);
    return this;
  }

  synchronized ScriptedIssuer otherwise(Step step) {
    defaultStep = step;
    return this;
  }

  synchronized List<Long> generations() {
    return List.copyOf(generations);
  }

  Step issue(Duration validity) {
    return generation -> {
      KeyPair kp = TestCa.newKeyPair();
      return new TlsIdentity(kp.getPrivate(),
          List.of(ca.leaf(kp.getPublic()).dns("svc.ns.svc").validity(clock.instant(), validity).build()),
          generation);
    };
  }

  static Step fail(String message) {
    return generation -> {
      throw new MtlsException(message + " (generation " + generation + ")");
    };
  }

  static Step deny(String reason) {
    return generation -> {
      throw new CertificateDeniedException("csr-" + generation, reason, "not allowed");
    };
  }

  Step blockUntilInterrupted() {
    return generation -> {
      blocked.countDown();
      try {
        new CountDownLatch(1).await();
        throw new AssertionError("unreachable");
      } catch (InterruptedException e) {
        sawInterrupt = true;
        throw e;
      }
    };
  }

  /** Reports the {@code stages} of a request named {@code request}, then blocks until interrupted. */
  Step reportThenBlock(String request, IssuanceProgress.Stage... stages) {
    return generation -> {
      java.util.function.Consumer<IssuanceProgress> to = progress;
      for (IssuanceProgress.Stage stage : stages) {
        to.accept(new IssuanceProgress(request, stage, clock.instant(), "check the signer"));
      }
      return blockUntilInterrupted().run(generation);
    };
  }

  private volatile java.util.function.Consumer<IssuanceProgress> progress = p -> { };

  @Override
  public TlsIdentity issue(long generation, java.util.function.Consumer<IssuanceProgress> progress)
      throws InterruptedException {
    this.progress = progress;
    return issue(generation);
  }

  @Override
  public TlsIdentity issue(long generation) throws InterruptedException {
    Step step;
    synchronized (this) {
      generations.add(generation);
      step = script.isEmpty() ? defaultStep : script.poll();
    }
    return step.run(generation);
  }
}
