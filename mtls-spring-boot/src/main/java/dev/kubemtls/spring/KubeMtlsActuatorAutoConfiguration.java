package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.micrometer.MtlsMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import dev.kubemtls.spring.internal.SslHealthThreshold;
import java.time.Duration;
import java.time.InstantSource;
import java.time.ZoneOffset;
import java.util.Optional;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.boot.health.application.SslHealthIndicator;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.info.SslInfo;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * Actuator and Micrometer, where present: the health indicator {@code kubeMtls}
 * ({@link KubeMtlsHealthIndicator}), and {@code mtls-micrometer}'s {@link MtlsMetrics} bound to the
 * identity and the application's {@link MeterRegistry} (certificate expiry, renewals, trust
 * changes, handshakes and refused requests of the starter's Jetty connector and filters). The
 * bundle itself shows in Spring Boot's {@code ssl.chain.expiry} metric and {@code ssl} health like
 * any other bundle; the {@code ssl} health's expiry threshold fits short-lived certificates
 * ({@link SslHealthThreshold}) unless the application sets
 * {@code management.health.ssl.certificate-validity-warning-threshold}.
 */
@AutoConfiguration(after = KubeMtlsAutoConfiguration.class,
    beforeName = "org.springframework.boot.health.autoconfigure.application.SslHealthContributorAutoConfiguration",
    afterName = {
    "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
    "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
    "org.springframework.boot.micrometer.metrics.autoconfigure.export.simple.SimpleMetricsExportAutoConfiguration"})
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
public class KubeMtlsActuatorAutoConfiguration {

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
  static class HealthConfiguration {
    @Bean
    @ConditionalOnMissingBean(name = "kubeMtlsHealthIndicator")
    KubeMtlsHealthIndicator kubeMtlsHealthIndicator(MaterialSource source,
        @Qualifier("kubeMtlsClock") InstantSource clock) {
      return new KubeMtlsHealthIndicator(source, clock);
    }
  }

  /**
   * Spring Boot's own {@code ssl} health (the same indicator, same details), with a threshold
   * re-read on each check from the current certificate, so renewed or shorter certificates are
   * judged by their own lifetime.
   */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "org.springframework.boot.health.application.SslHealthIndicator")
  @ConditionalOnEnabledHealthIndicator("ssl")
  static class SslHealthConfiguration {
    static final String THRESHOLD = "management.health.ssl.certificate-validity-warning-threshold";

    @Bean(name = "sslHealthIndicator")
    @ConditionalOnMissingBean(name = "sslHealthIndicator")
    HealthIndicator sslHealthIndicator(SslBundles bundles, MaterialSource source,
        @Qualifier("kubeMtlsClock") InstantSource clock, Environment environment) {
      Optional<Duration> configured = Optional.ofNullable(environment.getProperty(THRESHOLD, Duration.class));
      SslInfo info = new SslInfo(bundles, clock.withZone(ZoneOffset.UTC));
      return () -> new SslHealthIndicator(info, SslHealthThreshold.of(configured, source)).health();
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"dev.kubemtls.micrometer.MtlsMetrics", "io.micrometer.core.instrument.MeterRegistry"})
  @ConditionalOnBean(MeterRegistry.class)
  static class MetricsConfiguration {
    @Bean
    @ConditionalOnMissingBean
    MtlsMetrics kubeMtlsMetrics(MeterRegistry registry, @Qualifier("kubeMtlsClock") InstantSource clock) {
      return MtlsMetrics.builder(registry).clock(clock).build();
    }

    /** Heard by the in-pod identity (renewals, failures, trust changes). */
    @Bean
    ManagerListener kubeMtlsMetricsManagerListener(MtlsMetrics metrics) {
      return metrics.managerListener();
    }

    /** Heard by the Jetty connector and the peer filters (handshakes, refused requests). */
    @Bean
    TlsListener kubeMtlsMetricsTlsListener(MtlsMetrics metrics) {
      return metrics.tlsListener();
    }

    @Bean
    SmartInitializingSingleton kubeMtlsMetricsBinding(MtlsMetrics metrics, MaterialSource source) {
      return () -> metrics.bind(source);
    }
  }
}
