package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.spring.internal.ApiServerAccess;
import dev.kubemtls.spring.internal.MtlsSslBundleRegistrar;
import dev.kubemtls.spring.internal.SnapshotSslBundles;
import dev.kubemtls.spring.internal.StartupProblem;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.InstantSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.ssl.SslAutoConfiguration;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;
import org.springframework.core.env.Environment;

/**
 * The starter's core: the workload's identity as a {@link MaterialSource} bean and the SSL bundle
 * that follows it.
 *
 * <p>Unless the application defines its own {@code MaterialSource} bean (any kube-mtls source: a
 * {@code FileMaterialSource} for kubelet-issued certificates, or a test CA in tests), the starter
 * starts a {@link KubeMtls} from {@code kube-mtls.*} and the pod's environment. The bundle named
 * {@code kube-mtls.bundle} (default {@code kube-mtls}) is registered with Spring Boot's
 * {@code SslBundleRegistry} once the first certificate is there, and updated on every new
 * snapshot. The clock the starter judges expiry by is the bean {@code kubeMtlsClock}
 * (the system clock unless the application defines one).
 */
@AutoConfiguration(before = SslAutoConfiguration.class)
@ConditionalOnProperty(prefix = "kube-mtls", name = "enabled", matchIfMissing = true)
@EnableConfigurationProperties(KubeMtlsProperties.class)
public class KubeMtlsAutoConfiguration {

  /** The clock expiry is judged by. */
  @Bean
  @ConditionalOnMissingBean(name = "kubeMtlsClock")
  InstantSource kubeMtlsClock() {
    return InstantSource.system();
  }

  /** The TLS policy of the bundle (protocols, suites); {@link TlsPolicy#defaults()} unless defined. */
  @Bean
  @ConditionalOnMissingBean
  TlsPolicy kubeMtlsTlsPolicy() {
    return TlsPolicy.defaults();
  }

  @Bean
  @ConditionalOnMissingBean
  SnapshotSslBundles kubeMtlsSslBundles(MaterialSource source, TlsPolicy policy) {
    return new SnapshotSslBundles(source, policy);
  }

  @Bean
  MtlsSslBundleRegistrar kubeMtlsSslBundleRegistrar(MaterialSource source, SnapshotSslBundles bundles,
      KubeMtlsProperties properties) {
    return new MtlsSslBundleRegistrar(source, bundles, properties.getBundle(), properties.getStartupTimeout());
  }

  /** The in-pod identity, unless the application brings a {@code MaterialSource} of its own. */
  @Configuration(proxyBeanMethods = false)
  @ConditionalOnMissingBean(MaterialSource.class)
  static class InPodIdentityConfiguration {

    private static final Logger LOG = LoggerFactory.getLogger(KubeMtlsAutoConfiguration.class);

    /** Lazy: built after the identity checks, so a missing input is reported before the API server access is. */
    @Bean(destroyMethod = "close")
    @Lazy
    @ConditionalOnMissingBean
    KubernetesClient kubeMtlsKubernetesClient(KubeMtlsProperties properties, Environment environment) {
      ApiServerAccess.Kind kind = ApiServerAccess.decide(properties.getKubeconfigFile(),
          properties.isKubeconfigFromEnvironment(), Path.of(properties.getServiceAccountDir()),
          environment.getProperty("KUBERNETES_SERVICE_HOST"),
          environmentKubeconfigs(environment));
      if (kind != ApiServerAccess.Kind.KUBECONFIG_FILE) {
        return new KubernetesClientBuilder().build();
      }
      try {
        String kubeconfig = Files.readString(Path.of(properties.getKubeconfigFile()));
        return new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfig)).build();
      } catch (IOException e) {
        throw new UncheckedIOException("kube-mtls.kubeconfig-file: cannot read " + properties.getKubeconfigFile(), e);
      }
    }

    /** The kubeconfig files the environment names, as fabric8 reads them: KUBECONFIG's entries, else ~/.kube/config. */
    static java.util.List<Path> environmentKubeconfigs(Environment environment) {
      String kubeconfig = environment.getProperty("KUBECONFIG");
      if (kubeconfig != null && !kubeconfig.isBlank()) {
        return java.util.Arrays.stream(kubeconfig.split(java.io.File.pathSeparator)).filter(f -> !f.isBlank())
            .map(Path::of).toList();
      }
      String home = environment.getProperty("user.home");
      return home == null ? java.util.List.of() : java.util.List.of(Path.of(home, ".kube", "config"));
    }

    @Bean(destroyMethod = "close")
    KubeMtls kubeMtls(KubeMtlsProperties properties, ObjectProvider<KubernetesClient> clients, Environment environment,
        @Qualifier("kubeMtlsClock") InstantSource clock, ObjectProvider<ManagerListener> listener) {
      if (properties.getSignerName() == null || properties.getSignerName().isBlank()) {
        throw new StartupProblem("kube-mtls.signer-name is not set", "Set kube-mtls.signer-name to the"
            + " signerName the cluster's kube-mtls signer serves (for example kube-mtls.dev/workload), or define a"
            + " MaterialSource bean of your own, or set kube-mtls.enabled=false.");
      }
      WorkloadIdentity identity;
      try {
        // The Environment holds the process environment, so POD_NAMESPACE, POD_NAME, POD_IP and
        // SERVICE_ACCOUNT from the downward API are found there (or as properties of those names).
        identity = WorkloadIdentity.builderFromEnvironment(environment::getProperty, Path.of(properties.getServiceAccountDir()))
            .services(properties.getServices())
            .build();
      } catch (IllegalStateException e) {
        throw new StartupProblem("kube-mtls cannot tell who this pod is: " + e.getMessage(),
            "In a Pod, set POD_NAMESPACE, POD_NAME and POD_IP with the downward API and keep the ServiceAccount"
                + " token mounted; outside one, set POD_NAMESPACE, SERVICE_ACCOUNT, POD_NAME and POD_IP (as"
                + " environment variables or properties) and kube-mtls.kubeconfig-file.", e);
      }
      // Only now, with the identity known, build the client (which may refuse the environment's kubeconfig).
      KubernetesClient client = clients.getObject();
      KubeMtls.Builder b = KubeMtls.forWorkload(client)
          .identity(identity)
          .signerName(properties.getSignerName())
          .keyAlgorithm(properties.keyAlgorithmValue())
          .certificateLifetime(properties.getLifetime())
          .clock(clock)
          .listener(ManagerListener.all(listener.orderedStream().toList()));
      b.trustBundleConfigMap(properties.getTrustConfigMap());
      switch (properties.getTrustSource()) {
        case AUTO -> { }
        case CONFIG_MAP -> b.trustConfigMap();
        case CLUSTER_TRUST_BUNDLE -> b.trustClusterTrustBundles();
      }
      KubeMtls tls = b.start();
      LOG.info("kube-mtls started for {} with signer {} (API server {})", identity.spiffeId(),
          properties.getSignerName(), client.getMasterUrl());
      return tls;
    }
  }
}
