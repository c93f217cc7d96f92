package dev.kubemtls.spring.internal;

import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.core.type.AnnotatedTypeMetadata;

/** Matches when the web server serves the kube-mtls bundle: {@code server.ssl.bundle} names it. */
public final class OnMtlsServerCondition extends SpringBootCondition {

  @Override
  public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
    String ours = context.getEnvironment().getProperty("kube-mtls.bundle", "kube-mtls");
    String served = context.getEnvironment().getProperty("server.ssl.bundle");
    boolean enabled = context.getEnvironment().getProperty("server.ssl.enabled", Boolean.class, true);
    if (enabled && ours.equals(served)) {
      return ConditionOutcome.match("server.ssl.bundle is " + ours);
    }
    return ConditionOutcome.noMatch("server.ssl.bundle is " + served + ", not " + ours);
  }
}
