package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.servlet.JettyMtls;
import dev.kubemtls.servlet.MtlsPeerFilter;
import dev.kubemtls.spring.internal.ClientAuthDefault;
import dev.kubemtls.spring.internal.JettyReload;
import dev.kubemtls.spring.internal.OnMtlsServerCondition;
import dev.kubemtls.spring.internal.ReactorNettyFollowing;
import dev.kubemtls.spring.internal.TomcatFollowing;
import java.time.InstantSource;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;

/**
 * What a web server that serves the kube-mtls bundle ({@code server.ssl.bundle=kube-mtls}) gets:
 * client certificates required unless {@code server.ssl.client-auth} says otherwise; on Tomcat,
 * Reactor Netty and Jetty the same kube-mtls TLS context, which follows the certificate and applies
 * the whole {@code TlsPolicy} (signature schemes and groups included) instead of Spring Boot's TLS
 * set up from the bundle's stores;
 * and a filter that makes the verified caller the principal and enforces
 * {@code kube-mtls.peer.*} with {@code 403} and the reason (servlet: needs {@code mtls-servlet};
 * WebFlux: {@link MtlsPeerWebFilter}).
 */
@AutoConfiguration(after = KubeMtlsAutoConfiguration.class)
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
@ConditionalOnWebApplication
@Conditional(OnMtlsServerCondition.class)
public class KubeMtlsWebAutoConfiguration {

  @Bean
  ClientAuthDefault kubeMtlsClientAuthDefault(KubeMtlsProperties properties) {
    return new ClientAuthDefault(properties.getBundle());
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"org.springframework.boot.jetty.servlet.JettyServletWebServerFactory",
      "org.eclipse.jetty.server.Server", "dev.kubemtls.servlet.JettyMtls"})
  static class JettyConfiguration {
    @Bean
    JettyReload kubeMtlsJettyReload(MaterialSource source, TlsPolicy policy, KubeMtlsProperties properties,
        ObjectProvider<TlsListener> listener) {
      return new JettyReload(source, policy, properties.getBundle(),
          TlsListener.all(listener.orderedStream().toList()), properties.getMaxConnectionAge());
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"org.springframework.boot.tomcat.ConfigurableTomcatWebServerFactory",
      "org.apache.catalina.connector.Connector"})
  static class TomcatConfiguration {
    @Bean
    TomcatFollowing kubeMtlsTomcatFollowing(MaterialSource source, TlsPolicy policy, KubeMtlsProperties properties,
        ObjectProvider<TlsListener> listener) {
      return new TomcatFollowing(source, policy, properties.getBundle(), properties.getMaxConnectionAge(),
          TlsListener.all(listener.orderedStream().toList()));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory",
      "reactor.netty.http.server.HttpServer", "io.netty.handler.ssl.JdkSslContext"})
  static class ReactorNettyConfiguration {
    @Bean
    ReactorNettyFollowing kubeMtlsReactorNettyFollowing(MaterialSource source, TlsPolicy policy,
        KubeMtlsProperties properties, ObjectProvider<TlsListener> listener,
        @Qualifier("kubeMtlsClock") ObjectProvider<InstantSource> clock) {
      return new ReactorNettyFollowing(source, policy, properties.getBundle(), properties.getMaxConnectionAge(),
          TlsListener.all(listener.orderedStream().toList()), clock.getIfAvailable(InstantSource::system));
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
  @ConditionalOnClass(name = "dev.kubemtls.servlet.MtlsPeerFilter")
  @ConditionalOnProperty(prefix = "kube-mtls.peer", name = "enforce", matchIfMissing = true)
  static class ServletPeerConfiguration {
    @Bean
    FilterRegistrationBean<MtlsPeerFilter> kubeMtlsPeerFilter(KubeMtlsProperties properties,
        ObjectProvider<TlsListener> listener, @Qualifier("kubeMtlsClock") ObjectProvider<InstantSource> clock) {
      MtlsPeerFilter filter = MtlsPeerFilter.builder().policy(properties.peerPolicy())
          .listener(TlsListener.all(listener.orderedStream().toList()))
          .clock(clock.getIfAvailable(InstantSource::system)).build();
      FilterRegistrationBean<MtlsPeerFilter> registration = new FilterRegistrationBean<>(filter);
      registration.setName("kubeMtlsPeerFilter");
      registration.addUrlPatterns("/*");
      registration.setOrder(Ordered.HIGHEST_PRECEDENCE + 10);
      return registration;
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
  @ConditionalOnMissingClass("dev.kubemtls.servlet.MtlsPeerFilter")
  @ConditionalOnProperty(prefix = "kube-mtls.peer", name = "enforce", matchIfMissing = true)
  static class ServletPeerMissingConfiguration {
    @Bean
    InitializingBean kubeMtlsPeerFilterMissing() {
      return () -> LoggerFactory.getLogger(KubeMtlsWebAutoConfiguration.class).warn("kube-mtls.peer.* is not"
          + " enforced: add dev.kubemtls:mtls-servlet for the servlet filter (or set kube-mtls.peer.enforce=false)");
    }
  }

  @Configuration(proxyBeanMethods = false)
  @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.REACTIVE)
  @ConditionalOnProperty(prefix = "kube-mtls.peer", name = "enforce", matchIfMissing = true)
  static class ReactivePeerConfiguration {
    @Bean
    MtlsPeerWebFilter kubeMtlsPeerWebFilter(KubeMtlsProperties properties, ObjectProvider<TlsListener> listener,
        @Qualifier("kubeMtlsClock") ObjectProvider<InstantSource> clock) {
      return new MtlsPeerWebFilter(properties.peerPolicy(), TlsListener.all(listener.orderedStream().toList()),
          clock.getIfAvailable(InstantSource::system));
    }
  }
}
