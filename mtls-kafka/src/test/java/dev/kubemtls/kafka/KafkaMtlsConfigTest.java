package dev.kubemtls.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import javax.net.ssl.SSLEngine;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** How Kafka's configuration finds a registration, and what the factory tells Kafka. */
class KafkaMtlsConfigTest {

  private final TestCa ca = TestCa.create("config CA");

  private MaterialPublisher source() {
    return new MaterialPublisher(Pki.material(Pki.broker(ca, 1), Pki.trust("v1", ca)));
  }

  @Test
  void aMissingKeyOrUnknownNameIsAConfigErrorThatSaysWhatToDo() {
    MtlsSslEngineFactory factory = new MtlsSslEngineFactory();
    assertThatThrownBy(() -> factory.configure(Map.of()))
        .isInstanceOf(ConfigException.class).hasMessageContaining("kube.mtls.source")
        .hasMessageContaining("KafkaMtls.register");
    assertThatThrownBy(() -> factory.configure(Map.of(KafkaMtls.SOURCE_CONFIG, "nobody")))
        .isInstanceOf(ConfigException.class).hasMessageContaining("nobody")
        .hasMessageContaining("no material source is registered");
  }

  @Test
  void aNameIsHeldByOneRegistrationUntilClosed() {
    try (KafkaMtls.Registration r = KafkaMtls.register("cfg-one", source())) {
      assertThatThrownBy(() -> KafkaMtls.register("cfg-one", source()))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("already registered");
      assertThat(KafkaMtls.lookup("cfg-one")).containsSame(r);
    }
    assertThat(KafkaMtls.lookup("cfg-one")).isEmpty();
    KafkaMtls.register("cfg-one", source()).close();
    assertThatThrownBy(() -> KafkaMtls.register("bad name", source())).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KafkaMtls.source("cfg-two", source()).maxConnectionAge(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theFactoryFollowsItsRegistrationAndNeedsNoReconfiguration() {
    try (KafkaMtls.Registration r = KafkaMtls.register("cfg-three", source())) {
      Map<String, Object> config = new HashMap<>(r.clientConfig());
      config.put("ssl.endpoint.identification.algorithm", "https");
      MtlsSslEngineFactory factory = new MtlsSslEngineFactory();
      factory.configure(config);
      assertThat(factory.reconfigurableConfigs()).isEmpty();
      assertThat(factory.keystore()).isNull();
      assertThat(factory.truststore()).isNull();
      assertThat(factory.shouldBeRebuilt(config)).isFalse();
      config.put(KafkaMtls.SOURCE_CONFIG, "cfg-other");
      assertThat(factory.shouldBeRebuilt(config)).isTrue();

      SSLEngine client = factory.createClientSslEngine("127.0.0.1", 9093, "https");
      assertThat(client.getUseClientMode()).isTrue();
      assertThat(client.getSSLParameters().getEndpointIdentificationAlgorithm()).isEqualTo("https");
      SSLEngine server = factory.createServerSslEngine("127.0.0.1", 50000);
      assertThat(server.getUseClientMode()).isFalse();
      assertThat(server.getNeedClientAuth()).isTrue();
      assertThat(server.getEnabledProtocols()).contains("TLSv1.3");

      factory.close();
      assertThatThrownBy(() -> factory.createServerSslEngine("127.0.0.1", 1))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }
  }

  @Test
  void configsNameTheFactoryAndPrincipalBuilder() {
    assertThat(KafkaMtls.clientConfig("x")).containsEntry("security.protocol", "SSL")
        .containsEntry("ssl.engine.factory.class", MtlsSslEngineFactory.class.getName())
        .containsEntry(KafkaMtls.SOURCE_CONFIG, "x");
    assertThat(KafkaMtls.brokerConfig("x"))
        .containsEntry("principal.builder.class", SpiffePrincipalBuilder.class.getName());
  }
}
