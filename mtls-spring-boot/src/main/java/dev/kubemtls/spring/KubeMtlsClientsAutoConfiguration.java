package dev.kubemtls.spring;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.http.MtlsApacheHttp;
import dev.kubemtls.http.MtlsJdkHttpClient;
import dev.kubemtls.http.MtlsOkHttp;
import dev.kubemtls.jdbc.HikariRetirement;
import dev.kubemtls.jdbc.MtlsPostgres;
import dev.kubemtls.spring.internal.ApacheClientBound;
import dev.kubemtls.spring.internal.ClientConnectionBound;
import dev.kubemtls.spring.internal.ReactorClientBound;
import dev.kubemtls.spring.internal.SnapshotSslBundles;
import java.time.InstantSource;
import javax.sql.DataSource;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Outgoing connections on the workload's identity where Spring does not build the client from the
 * {@code kube-mtls} SSL bundle itself: a PostgreSQL {@link DataSource} and HTTP client beans. Each
 * follows the {@link MaterialSource} bean (new connections take the current certificate and trust)
 * and retires pooled connections made under superseded material (see
 * {@link HikariRetirement}, {@link MtlsJdkHttpClient}, {@link MtlsOkHttp}, {@link MtlsApacheHttp}).
 *
 * <ul>
 *   <li>{@code kube-mtls.clients.postgres.url} set (with pgjdbc, HikariCP and mtls-jdbc on the class
 *       path): a {@link HikariDataSource} named {@code dataSource}, unless the application has a
 *       {@code DataSource}, whose connections use {@code sslmode=verify-full} and kube-mtls'
 *       {@code sslfactory}, with {@link HikariRetirement} installed; the bean
 *       {@code kubeMtlsPostgresTls} is its TLS client.</li>
 *   <li>{@code kube-mtls.clients.http.enabled=true} (with mtls-http): a {@link MtlsJdkHttpClient},
 *       and a {@link MtlsOkHttp} or {@link MtlsApacheHttp} where OkHttp or HttpClient 5 is on the
 *       class path, sharing the TLS client {@code kubeMtlsHttpTls}. Spring's {@code RestClient} and
 *       {@code WebClient} are built from the bundle instead.</li>
 *   <li>{@code kube-mtls.clients.bound-connections} (on by default): the connections of Spring's own
 *       clients to kube-mtls servers are not reused past {@code kube-mtls.clients.max-connection-age}
 *       (unset: {@code kube-mtls.max-connection-age}), the server certificate's {@code notAfter} or
 *       the removal of their CA: Apache HttpClient 5's and Reactor Netty's pools as Spring Boot
 *       builds them, and the JDK {@code HttpClient} through the bundle's SSL context.</li>
 * </ul>
 */
@AutoConfiguration(after = KubeMtlsAutoConfiguration.class, beforeName = {
    "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
    "org.springframework.boot.autoconfigure.jdbc.DataSourceAutoConfiguration"})
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
@EnableConfigurationProperties(KubeMtlsClientsProperties.class)
public class KubeMtlsClientsAutoConfiguration {

  private static MtlsJdkTls client(MaterialSource source, ObjectProvider<TlsPolicy> policy,
      KubeMtlsClientsProperties.Client settings) {
    return MtlsJdkTls.forClient(source).tlsPolicy(policy.getIfAvailable(TlsPolicy::defaults))
        .peerPolicy(settings.serverPolicy()).retireOnRenewal(settings.isRetireOnRenewal()).build();
  }

  /**
   * Spring's HTTP clients bounded by their material ({@code kube-mtls.clients.bound-connections},
   * on by default): the pools of Apache HttpClient 5 and Reactor Netty, as Spring Boot builds them for
   * RestClient, RestTemplate and WebClient, stop reusing a connection to a kube-mtls server past its
   * maximum age, the server certificate's {@code notAfter} or the removal of its CA.
   */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnBean(MaterialSource.class)
  @ConditionalOnProperty(prefix = "kube-mtls.clients", name = "bound-connections", matchIfMissing = true)
  @ConditionalOnClass(name = "org.springframework.boot.http.client.ClientHttpRequestFactoryBuilder")
  static class ClientBounds {

    @Bean(destroyMethod = "close")
    ClientConnectionBound kubeMtlsClientConnectionBound(MaterialSource source,
        ObjectProvider<KubeMtlsProperties> properties, KubeMtlsClientsProperties clients,
        @Qualifier("kubeMtlsClock") ObjectProvider<InstantSource> clock,
        ObjectProvider<SnapshotSslBundles> bundles, org.springframework.core.env.Environment environment) {
      // The servers' kube-mtls.max-connection-age when the starter's main configuration is there
      // (an application may bring its own MaterialSource without it): its default otherwise.
      KubeMtlsProperties server = properties.getIfAvailable(KubeMtlsProperties::new);
      ClientConnectionBound bound = new ClientConnectionBound(source, clock.getIfAvailable(InstantSource::system),
          clients.clientMaxConnectionAge(server.getMaxConnectionAge()));
      // The JDK HttpClient has no pool hook: the bundle context's engines end a reused connection
      // at its next request past the bound, and it retries. Only where the JDK client is the one
      // Spring Boot uses (or asked for): Jetty's client takes the same context and does not retry.
      Boolean jdk = clients.getBoundJdkClient();
      if (jdk != null ? jdk : usesJdkClient(environment)) {
        bundles.ifAvailable(b -> b.boundClients(bound));
      }
      return bound;
    }

    /**
     * Whether Spring Boot's RestClient/RestTemplate run on the JDK HttpClient: the factory set by
     * {@code spring.http.clients.imperative.factory}, else what Spring Boot detects on the class
     * path (read without the builder bean, whose customizers need the bound).
     */
    private static boolean usesJdkClient(org.springframework.core.env.Environment environment) {
      String factory = environment.getProperty("spring.http.clients.imperative.factory");
      if (factory != null && !factory.isBlank()) {
        return factory.trim().equalsIgnoreCase("jdk");
      }
      return org.springframework.boot.http.client.ClientHttpRequestFactoryBuilder
          .detect(KubeMtlsClientsAutoConfiguration.class.getClassLoader())
          instanceof org.springframework.boot.http.client.JdkClientHttpRequestFactoryBuilder;
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = {"org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder",
        "org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer"})
    static class Apache {
      @Bean
      @Order(Ordered.LOWEST_PRECEDENCE)
      ApacheClientBound kubeMtlsApacheClientBound(ClientConnectionBound bound) {
        return new ApacheClientBound(bound);
      }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = {"reactor.netty.resources.ConnectionProvider",
        "org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer"})
    static class Reactor {
      @Bean
      ReactorClientBound kubeMtlsReactorClientBound(ClientConnectionBound bound) {
        return new ReactorClientBound(bound);
      }

      /** After Spring Boot's own (which puts the client on its ReactorResourceFactory, at order 0). */
      @Bean
      @Order(Ordered.LOWEST_PRECEDENCE)
      org.springframework.boot.http.client.autoconfigure.reactive.ClientHttpConnectorBuilderCustomizer<
          org.springframework.boot.http.client.reactive.ReactorClientHttpConnectorBuilder>
          kubeMtlsReactorConnectorBound(ReactorClientBound bound) {
        return bound.connectorCustomizer();
      }

      @Bean
      @Order(Ordered.LOWEST_PRECEDENCE)
      org.springframework.boot.http.client.autoconfigure.ClientHttpRequestFactoryBuilderCustomizer<
          org.springframework.boot.http.client.ReactorClientHttpRequestFactoryBuilder>
          kubeMtlsReactorRequestFactoryBound(ReactorClientBound bound) {
        return bound.requestFactoryCustomizer();
      }
    }
  }

  /** PostgreSQL over kube-mtls. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = {"dev.kubemtls.jdbc.MtlsPostgres", "com.zaxxer.hikari.HikariDataSource",
      "org.postgresql.Driver"})
  @ConditionalOnProperty(prefix = "kube-mtls.clients.postgres", name = "url")
  @ConditionalOnBean(MaterialSource.class)
  static class Postgres {

    @Bean(destroyMethod = "close")
    MtlsJdkTls kubeMtlsPostgresTls(MaterialSource source, ObjectProvider<TlsPolicy> policy,
        KubeMtlsClientsProperties properties) {
      return client(source, policy, properties.getPostgres());
    }

    @Bean(destroyMethod = "close")
    MtlsPostgres.Registration kubeMtlsPostgresRegistration(@Qualifier("kubeMtlsPostgresTls") MtlsJdkTls tls,
        KubeMtlsClientsProperties properties) {
      return MtlsPostgres.register(properties.getPostgres().getSourceName(), tls);
    }

    /** The pool and its retirement, unless the application defines its own {@code DataSource}. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnMissingBean(DataSource.class)
    static class Pool {

      @Bean(destroyMethod = "close")
      HikariDataSource dataSource(MtlsPostgres.Registration registration, KubeMtlsClientsProperties properties) {
        KubeMtlsClientsProperties.Postgres p = properties.getPostgres();
        String url = p.getUrl();
        if (!url.startsWith("jdbc:postgresql:")) {
          throw new IllegalArgumentException("kube-mtls.clients.postgres.url must be a jdbc:postgresql: URL,"
              + " was " + url);
        }
        if (url.contains("sslfactory=") || url.contains("sslmode=")) {
          throw new IllegalArgumentException("kube-mtls.clients.postgres.url must not set sslmode or"
              + " sslfactory: kube-mtls sets sslmode=verify-full and its own factory");
        }
        HikariConfig config = new HikariConfig();
        config.setPoolName("kube-mtls-postgres");
        config.setDriverClassName("org.postgresql.Driver");
        config.setJdbcUrl(url + (url.contains("?") ? "&" : "?") + registration.urlParameters());
        if (p.getUsername() != null) {
          config.setUsername(p.getUsername());
        }
        config.setMaximumPoolSize(p.getMaximumPoolSize());
        return new HikariDataSource(config);
      }

      @Bean(destroyMethod = "close")
      HikariRetirement kubeMtlsHikariRetirement(HikariDataSource dataSource,
          MtlsPostgres.Registration registration, KubeMtlsClientsProperties properties) {
        return HikariRetirement.install(dataSource, registration, properties.getPostgres().getCheckEvery());
      }
    }
  }

  /** HTTP clients over kube-mtls. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnClass(name = "dev.kubemtls.http.MtlsJdkHttpClient")
  @ConditionalOnProperty(prefix = "kube-mtls.clients.http", name = "enabled", havingValue = "true")
  @ConditionalOnBean(MaterialSource.class)
  static class Http {

    @Bean(destroyMethod = "close")
    MtlsJdkTls kubeMtlsHttpTls(MaterialSource source, ObjectProvider<TlsPolicy> policy,
        KubeMtlsClientsProperties properties) {
      return client(source, policy, properties.getHttp());
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    MtlsJdkHttpClient kubeMtlsJdkHttpClient(@Qualifier("kubeMtlsHttpTls") MtlsJdkTls tls,
        KubeMtlsClientsProperties properties) {
      return MtlsJdkHttpClient.create(tls, b -> { }, properties.getHttp().getCheckEvery());
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "okhttp3.OkHttpClient")
    static class OkHttp {
      @Bean(destroyMethod = "close")
      @ConditionalOnMissingBean
      MtlsOkHttp kubeMtlsOkHttp(@Qualifier("kubeMtlsHttpTls") MtlsJdkTls tls, KubeMtlsClientsProperties properties) {
        return MtlsOkHttp.create(tls, b -> b, properties.getHttp().getCheckEvery());
      }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.apache.hc.client5.http.impl.classic.CloseableHttpClient")
    static class Apache {
      @Bean(destroyMethod = "close")
      @ConditionalOnMissingBean
      MtlsApacheHttp kubeMtlsApacheHttp(@Qualifier("kubeMtlsHttpTls") MtlsJdkTls tls,
          KubeMtlsClientsProperties properties) {
        return MtlsApacheHttp.create(tls, b -> b, properties.getHttp().getCheckEvery());
      }
    }
  }
}
