package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.micrometer.MtlsMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.InstantSource;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Actuator and Micrometer, where present: the health indicator {@code kubeMtls}
 * ({@link KubeMtlsHealthIndicator}), and {@code mtls-micrometer}'s {@link MtlsMetrics} bound to the
 * identity and the application's {@link MeterRegistry} (certificate expiry, renewals, trust
 * changes, handshakes and refused requests of the starter's Jetty connector and filters). The
 * bundle itself shows in Spring Boot's {@code ssl.chain.expiry} metric and SSL health like any
 * other bundle.
 */
@AutoConfiguration(after = KubeMtlsAutoConfiguration.class, afterName = {
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
