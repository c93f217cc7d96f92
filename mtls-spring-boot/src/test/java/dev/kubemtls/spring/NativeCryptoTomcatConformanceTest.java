package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.NativeCrypto;
import java.security.Security;
import javax.crypto.KeyAgreement;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Configuration;

/**
 * {@code kube-mtls.native-crypto=true}: the starter registers the native provider while the
 * environment is prepared (a JVM of its own, the {@code native-crypto} Surefire execution), and the
 * whole conformance suite then runs on Tomcat with it, each application started with the switch.
 */
class NativeCryptoTomcatConformanceTest extends TlsConformanceSuite {

  @Configuration(proxyBeanMethods = false)
  static class Empty {}

  @BeforeAll
  static void theSwitchInstallsTheProviderBeforeAnyBean() {
    assertThat(NativeCrypto.status().active()).as("nothing registered before the application starts").isFalse();
    String before = Security.getProviders()[0].getName();
    try (ConfigurableApplicationContext context = new SpringApplicationBuilder(Empty.class)
        .web(WebApplicationType.NONE)
        .properties("kube-mtls.enabled=false", "kube-mtls.native-crypto=true", "spring.main.banner-mode=off")
        .run()) {
      assertThat(context.isActive()).isTrue();
    }
    assertThat(before).isNotEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(NativeCrypto.status().active()).as(NativeCrypto.status().detail()).isTrue();
  }

  @Override
  protected TlsIntegration integration() {
    return new SpringIntegration(SpringIntegration.Kind.TOMCAT, "kube-mtls.native-crypto=true");
  }

  @Test
  void theHandshakePrimitivesComeFromTheNativeProvider() throws Exception {
    assertThat(KeyAgreement.getInstance("ECDH").getProvider().getName()).isEqualTo(NativeCrypto.ACCP_NAME);
    assertThat(System.getProperty("jdk.tls.namedGroups")).startsWith("secp256r1,");
  }
}
