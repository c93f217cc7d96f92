package dev.kubemtls.spring.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.http.client.HttpClientSettings;
import org.springframework.boot.http.client.reactive.ClientHttpConnectorBuilder;
import org.springframework.boot.ssl.SslBundles;
import org.springframework.boot.webclient.autoconfigure.WebClientSsl;
import org.springframework.context.annotation.Bean;
import org.springframework.core.io.ResourceLoader;

/**
 * The starter's {@link WebClientSsl} ({@link MtlsWebClientSsl}) in place of Spring Boot's, unless
 * the application defines one: a WebClient built from the kube-mtls bundle takes its TLS from the
 * kube-mtls client engine on every connector Spring Boot sets up (Reactor Netty, Jetty, Apache
 * HttpComponents, the JDK's).
 */
@AutoConfiguration(after = dev.kubemtls.spring.KubeMtlsAutoConfiguration.class,
    afterName = "org.springframework.boot.autoconfigure.ssl.SslAutoConfiguration",
    beforeName = "org.springframework.boot.webclient.autoconfigure.WebClientAutoConfiguration")
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
@ConditionalOnClass(name = {"org.springframework.boot.webclient.autoconfigure.WebClientSsl",
    "org.springframework.boot.http.client.reactive.ClientHttpConnectorBuilder"})
public final class WebClientSslAutoConfiguration {

  @Bean
  @ConditionalOnMissingBean(WebClientSsl.class)
  @ConditionalOnBean({SslBundles.class, MaterialSource.class, SnapshotSslBundles.class})
  MtlsWebClientSsl webClientSsl(ResourceLoader resourceLoader, ObjectProvider<ClientHttpConnectorBuilder<?>> connectors,
      ObjectProvider<HttpClientSettings> settings, SslBundles bundles, MaterialSource source, TlsPolicy policy,
      ObjectProvider<TlsListener> listener, SnapshotSslBundles snapshots) {
    return new MtlsWebClientSsl(
        connectors.getIfAvailable(() -> ClientHttpConnectorBuilder.detect(resourceLoader.getClassLoader())),
        settings.getIfAvailable(HttpClientSettings::defaults), bundles, source, policy,
        TlsListener.all(listener.orderedStream().toList()), snapshots::bounding);
  }
}
