package dev.kubemtls.spring.internal;

import dev.kubemtls.core.tls.NativeCrypto;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;

/**
 * {@code kube-mtls.native-crypto=true} calls {@link NativeCrypto#install()} while the environment is
 * prepared, after the application's configuration files are read and before any bean exists, so
 * before the first TLS context (SunJSSE reads its group preference once, when it first loads).
 * Off by default: registering a JCA provider first changes every lookup in the JVM. Where the
 * provider is missing or does not load, the application starts on the JDK's providers and the
 * log says why and what to add.
 */
public final class NativeCryptoSwitch implements EnvironmentPostProcessor, Ordered {

  /** The switch. */
  public static final String PROPERTY = "kube-mtls.native-crypto";
  private static final Logger LOG = LoggerFactory.getLogger(NativeCryptoSwitch.class);

  @Override
  public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
    String value = environment.getProperty(PROPERTY);
    if (value == null || value.isBlank() || value.trim().equalsIgnoreCase("false")) {
      return;
    }
    if (!value.trim().equalsIgnoreCase("true")) {
      throw new IllegalArgumentException(PROPERTY + " must be true or false, not '" + value + "'");
    }
    NativeCrypto.Status status = NativeCrypto.install();
    if (!status.active()) {
      LOG.warn("{}=true, but TLS stays on the JDK's own crypto providers: {}", PROPERTY, status.detail());
    }
  }

  /** After the configuration files have been read (Spring's config data processor). */
  @Override
  public int getOrder() {
    return Ordered.LOWEST_PRECEDENCE;
  }
}
