package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.spring.internal.NativeCryptoSwitch;
import java.security.Security;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.SpringApplication;
import org.springframework.core.env.MapPropertySource;
import org.springframework.core.env.StandardEnvironment;

/**
 * Without {@code kube-mtls.native-crypto=true} the starter leaves the JVM's providers alone (the
 * native provider is on this module's test class path, so it would load); a value that is not a
 * boolean stops the start with its name. Installing is tested in a JVM of its own
 * ({@link NativeCryptoTomcatConformanceTest}).
 */
class CryptoSwitchTest {

  private static StandardEnvironment environment(Map<String, Object> properties) {
    StandardEnvironment env = new StandardEnvironment();
    env.getPropertySources().addFirst(new MapPropertySource("test", properties));
    return env;
  }

  @Test
  void offUnlessSwitchedOn() {
    String first = Security.getProviders()[0].getName();
    NativeCryptoSwitch s = new NativeCryptoSwitch();
    s.postProcessEnvironment(environment(Map.of()), new SpringApplication());
    s.postProcessEnvironment(environment(Map.of(NativeCryptoSwitch.PROPERTY, "false")), new SpringApplication());
    s.postProcessEnvironment(environment(Map.of(NativeCryptoSwitch.PROPERTY, " ")), new SpringApplication());
    assertThat(Security.getProviders()[0].getName()).isEqualTo(first);
  }

  @Test
  void aValueThatIsNotABooleanIsRefusedByName() {
    assertThatThrownBy(() -> new NativeCryptoSwitch().postProcessEnvironment(
        environment(Map.of(NativeCryptoSwitch.PROPERTY, "yes")), new SpringApplication()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("kube-mtls.native-crypto").hasMessageContaining("'yes'");
  }
}
