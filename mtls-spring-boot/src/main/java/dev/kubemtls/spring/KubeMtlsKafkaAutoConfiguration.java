package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.kafka.KafkaMtls;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.kafka.autoconfigure.KafkaAutoConfiguration;
import org.springframework.boot.kafka.autoconfigure.KafkaProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * Spring Kafka's producers, consumers, admin and streams on the workload's kube-mtls identity,
 * renewing live: with {@code mtls-kafka} and Spring Boot's Kafka support on the class path, and
 * either {@code spring.kafka.ssl.bundle=kube-mtls} (the starter's bundle name, {@code kube-mtls.bundle})
 * or {@code kube-mtls.kafka.enabled=true}, the starter registers its {@link MaterialSource} with
 * {@link KafkaMtls} and points every Kafka client Spring Boot builds at
 * {@link dev.kubemtls.kafka.MtlsSslEngineFactory}, through {@code spring.kafka.properties}
 * ({@code security.protocol=SSL} unless SASL_SSL is set, {@code ssl.engine.factory.class},
 * {@code kube.mtls.source}).
 *
 * <p>Spring Boot's own bundle support for Kafka builds each client's SSL context once from the bundle,
 * so a Kafka client would keep its first certificate; here each new connection takes the current one.
 * Where {@code spring.kafka[.producer|.consumer|.admin|.streams].ssl.bundle} names the starter's
 * bundle it is cleared, so that Spring Boot does not install its fixed engine factory over this one.
 * Settings under {@code kube-mtls.kafka}: {@code broker-spiffe-ids} (the brokers a client accepts;
 * any SPIFFE ID of the trust domain if empty), {@code max-connection-age} (see
 * {@link KafkaMtls.Builder#maxConnectionAge}) and {@code source-name} (the registration's name,
 * {@code kube-mtls}).
 */
@AutoConfiguration(after = KubeMtlsAutoConfiguration.class, before = KafkaAutoConfiguration.class)
@ConditionalOnClass({KafkaMtls.class, KafkaProperties.class})
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
@Conditional(KubeMtlsKafkaAutoConfiguration.OnKafkaMtls.class)
public class KubeMtlsKafkaAutoConfiguration {

  static final String PREFIX = "kube-mtls.kafka";

  /**
   * The starter's source under {@code kube-mtls.kafka.source-name}, with the TLS policy bean, the
   * brokers' SPIFFE IDs as the peer policy and the {@link TlsListener} beans (handshake metrics, as
   * for the starter's servers and HTTP clients); closed with the context.
   */
  @Bean(destroyMethod = "close")
  KafkaMtls.Registration kubeMtlsKafkaRegistration(MaterialSource source, TlsPolicy policy, Environment env,
      ObjectProvider<TlsListener> listeners) {
    Binder binder = Binder.get(env);
    List<String> brokers = binder.bind(PREFIX + ".broker-spiffe-ids", String[].class)
        .map(List::of).orElse(List.of());
    PeerPolicy peers;
    if (brokers.isEmpty()) {
      peers = PeerPolicy.anySpiffeId();
    } else {
      PeerPolicy.Builder b = PeerPolicy.builder();
      brokers.forEach(b::allowSpiffeId);
      peers = b.build();
    }
    KafkaMtls.Builder builder = KafkaMtls.source(sourceName(env), source).tlsPolicy(policy).peerPolicy(peers)
        .listener(TlsListener.all(listeners.orderedStream().toList()));
    binder.bind(PREFIX + ".max-connection-age", Duration.class).ifBound(builder::maxConnectionAge);
    return builder.register();
  }

  /** Points Spring Boot's Kafka properties at the registration before any Kafka client is built. */
  @Bean
  static BeanPostProcessor kubeMtlsKafkaPropertiesPostProcessor(Environment env,
      ObjectProvider<KafkaMtls.Registration> registration) {
    return new BeanPostProcessor() {
      @Override
      public Object postProcessBeforeInitialization(Object bean, String beanName) {
        if (bean instanceof KafkaProperties kafka) {
          apply(kafka, registration.getObject().name(), bundleName(env));
        }
        return bean;
      }
    };
  }

  static void apply(KafkaProperties kafka, String sourceName, String bundle) {
    for (KafkaProperties.Ssl ssl : List.of(kafka.getSsl(), kafka.getProducer().getSsl(),
        kafka.getConsumer().getSsl(), kafka.getAdmin().getSsl(), kafka.getStreams().getSsl())) {
      if (bundle.equals(ssl.getBundle())) {
        ssl.setBundle(null);
      }
    }
    Map<String, String> common = kafka.getProperties();
    String protocol = common.getOrDefault("security.protocol", kafka.getSecurity().getProtocol());
    if (!"SASL_SSL".equalsIgnoreCase(protocol)) {
      common.put("security.protocol", "SSL");
    }
    common.put("ssl.engine.factory.class", dev.kubemtls.kafka.MtlsSslEngineFactory.class.getName());
    common.put(KafkaMtls.SOURCE_CONFIG, sourceName);
  }

  static String sourceName(Environment env) {
    return env.getProperty(PREFIX + ".source-name", "kube-mtls");
  }

  static String bundleName(Environment env) {
    return env.getProperty("kube-mtls.bundle", "kube-mtls");
  }

  /** {@code kube-mtls.kafka.enabled=true}, or a {@code spring.kafka...ssl.bundle} naming the starter's bundle. */
  static final class OnKafkaMtls extends SpringBootCondition {
    @Override
    public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
      Environment env = context.getEnvironment();
      String enabled = env.getProperty(PREFIX + ".enabled");
      if (enabled != null) {
        return Boolean.parseBoolean(enabled.trim())
            ? ConditionOutcome.match(PREFIX + ".enabled is true")
            : ConditionOutcome.noMatch(PREFIX + ".enabled is false");
      }
      String bundle = bundleName(env);
      List<String> keys = new ArrayList<>();
      Stream.of("", "producer.", "consumer.", "admin.", "streams.").forEach(p -> keys.add("spring.kafka." + p + "ssl.bundle"));
      for (String key : keys) {
        if (bundle.equals(env.getProperty(key))) {
          return ConditionOutcome.match(key + " names the kube-mtls bundle '" + bundle + "'");
        }
      }
      return ConditionOutcome.noMatch("neither " + PREFIX + ".enabled nor spring.kafka.ssl.bundle=" + bundle);
    }
  }
}
