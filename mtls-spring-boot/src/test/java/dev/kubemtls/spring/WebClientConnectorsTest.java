package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.webclient.autoconfigure.WebClientSsl;
import org.springframework.boot.http.client.reactive.ClientHttpConnectorBuilder;
import org.springframework.web.reactive.function.client.WebClient;

/**
 * Every WebClient connector Spring Boot can set up besides Reactor Netty's ({@link ReactorNettyMtlsTest}
 * has that one), chosen as an application chooses it ({@code spring.http.clients.reactive.connector}),
 * built from the kube-mtls bundle through {@link WebClientSsl}: each applies the whole TLS policy to the
 * servers it calls and reports its handshakes to the application's {@code TlsListener}, as the
 * kube-mtls JDK client engine does.
 */
class WebClientConnectorsTest {

  @ParameterizedTest(name = "{0}")
  @CsvSource({
      "jetty, org.springframework.boot.http.client.reactive.JettyClientHttpConnectorBuilder",
      "http-components, org.springframework.boot.http.client.reactive.HttpComponentsClientHttpConnectorBuilder",
      "jdk, org.springframework.boot.http.client.reactive.JdkClientHttpConnectorBuilder"})
  void aWebClientFromTheBundleRefusesAServerOutsideTheTlsPolicy(String connector, Class<?> type, @TempDir Path dir)
      throws Exception {
    try (MtlsApp app = new MtlsApp()) {
      app.start(WebApplicationType.REACTIVE, List.of("spring.http.clients.reactive.connector=" + connector),
          ReactorNettyMtlsTest.Netty.class, ReactiveEndpoints.class);
      assertThat(app.context.getBean(ClientHttpConnectorBuilder.class)).as("the connectors the application chose")
          .isInstanceOf(type);
      WebClient client = app.context.getBean(WebClient.Builder.class)
          .apply(app.context.getBean(WebClientSsl.class).fromBundle("kube-mtls")).build();
      OpensslServer.assertTheClientHoldsTheTlsPolicy(app, dir, server -> ReactorNettyMtlsTest.status(client, server));
    }
  }
}
