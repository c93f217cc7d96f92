package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.spring.internal.ApiServerAccess;
import dev.kubemtls.spring.internal.KubeMtlsFailureAnalyzer;
import dev.kubemtls.spring.internal.StartupProblem;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.BeanCreationException;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.diagnostics.FailureAnalyzer;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.core.io.support.SpringFactoriesLoader;

/**
 * The starter's startup failures: each stops the application with one line naming what to set,
 * which its {@link KubeMtlsFailureAnalyzer} (registered for Spring Boot) puts at the top of the
 * report; and no kubeconfig from the environment is used without the opt-in.
 */
class StartupFailureTest {

  private final ApplicationContextRunner runner = new ApplicationContextRunner()
      .withConfiguration(AutoConfigurations.of(KubeMtlsAutoConfiguration.class));

  @Test
  void theFailureAnalyzerIsRegisteredWithSpringBoot() {
    // Other analyzers need constructor arguments Spring Boot passes; skip those here.
    assertThat(SpringFactoriesLoader.forDefaultResourceLocation().load(FailureAnalyzer.class, null,
        (type, implementation, failure) -> { }))
        .hasAtLeastOneElementOfType(KubeMtlsFailureAnalyzer.class);
  }

  @Test
  void missingIdentityInputsStopTheApplicationWithOneLineNamingWhatToSet(@TempDir Path noMount) {
    runner.withPropertyValues("kube-mtls.signer-name=kube-mtls.dev/workload", "kube-mtls.services=orders",
            "kube-mtls.service-account-dir=" + noMount, "POD_NAMESPACE=shop")
        .run(context -> {
          assertThat(context).hasFailed();
          FailureAnalysis analysis = new KubeMtlsFailureAnalyzer().analyze(context.getStartupFailure());
          assertThat(analysis.getDescription()).doesNotContain("\n")
              .startsWith("kube-mtls cannot tell who this pod is: cannot tell the ServiceAccount")
              .contains("SERVICE_ACCOUNT is not set");
          assertThat(analysis.getAction()).contains("SERVICE_ACCOUNT").contains("kube-mtls.kubeconfig-file");
        });
  }

  @Test
  void outsideAPodWithoutAKubeconfigFileTheApplicationSaysWhatToSet(@TempDir Path home) {
    runner.withPropertyValues("kube-mtls.signer-name=kube-mtls.dev/workload", "kube-mtls.services=orders",
            "kube-mtls.service-account-dir=" + home, "user.home=" + home, "KUBECONFIG=",
            "POD_NAMESPACE=shop", "SERVICE_ACCOUNT=orders", "POD_NAME=orders-0", "POD_IP=10.1.2.3")
        .run(context -> {
          assertThat(context).hasFailed();
          FailureAnalysis analysis = new KubeMtlsFailureAnalyzer().analyze(context.getStartupFailure());
          assertThat(analysis.getDescription()).startsWith("kube-mtls is not running in a Pod")
              .endsWith("kube-mtls.kubeconfig-file is not set");
          assertThat(analysis.getAction()).contains("kube-mtls.kubeconfig-file=<file>");
        });
  }

  @Test
  void aKubeconfigInTheEnvironmentIsNotUsedWithoutTheOptIn(@TempDir Path home) throws Exception {
    Files.createDirectories(home.resolve(".kube"));
    Files.writeString(home.resolve(".kube/config"), "apiVersion: v1\nkind: Config\n");
    runner.withPropertyValues("kube-mtls.signer-name=kube-mtls.dev/workload", "kube-mtls.services=orders",
            "kube-mtls.service-account-dir=" + home, "user.home=" + home, "KUBECONFIG=",
            "POD_NAMESPACE=shop", "SERVICE_ACCOUNT=orders", "POD_NAME=orders-0", "POD_IP=10.1.2.3")
        .run(context -> {
          assertThat(context).hasFailed();
          FailureAnalysis analysis = new KubeMtlsFailureAnalyzer().analyze(context.getStartupFailure());
          assertThat(analysis.getDescription()).isEqualTo("kube-mtls will not use the kubeconfig found in the"
              + " environment (" + home.resolve(".kube/config") + ", from KUBECONFIG or ~/.kube/config) without an opt-in");
          assertThat(analysis.getAction()).contains("kube-mtls.kubeconfig-from-environment=true");
        });
  }

  @Test
  void theDecisionTable(@TempDir Path dir) throws Exception {
    Path mount = Files.createDirectories(dir.resolve("sa"));
    Path envConfig = Files.writeString(dir.resolve("config"), "x");
    Path absent = dir.resolve("absent");
    assertThat(ApiServerAccess.decide("/k", false, mount, null, List.of(envConfig)))
        .isEqualTo(ApiServerAccess.Kind.KUBECONFIG_FILE);
    assertThat(ApiServerAccess.decide(null, true, mount, null, List.of(envConfig)))
        .isEqualTo(ApiServerAccess.Kind.ENVIRONMENT);
    assertThatThrownBy(() -> ApiServerAccess.decide(" ", false, mount, null, List.of(envConfig)))
        .isInstanceOf(StartupProblem.class).hasMessageContaining("without an opt-in");
    assertThatThrownBy(() -> ApiServerAccess.decide(null, false, mount, "10.0.0.1", List.of(absent)))
        .isInstanceOf(StartupProblem.class).hasMessageStartingWith("kube-mtls is not running in a Pod");
    Files.writeString(mount.resolve("token"), "t");
    assertThatThrownBy(() -> ApiServerAccess.decide(null, false, mount, null, List.of(absent)))
        .isInstanceOf(StartupProblem.class).hasMessageStartingWith("kube-mtls is not running in a Pod");
    assertThat(ApiServerAccess.decide(null, false, mount, "10.0.0.1", List.of(absent)))
        .isEqualTo(ApiServerAccess.Kind.IN_CLUSTER);
    // In a Pod too, a kubeconfig in the environment needs the opt-in.
    assertThatThrownBy(() -> ApiServerAccess.decide(null, false, mount, "10.0.0.1", List.of(envConfig)))
        .isInstanceOf(StartupProblem.class).hasMessageContaining("without an opt-in");
  }

  @Test
  void aDenialIsReportedInOneLineWithWhatToDo() {
    CertificateDeniedException denied = new CertificateDeniedException("csr-abc", "PodBindingRequired",
        "DNS and IP names need a token bound to a Pod");
    FailureAnalysis analysis = new KubeMtlsFailureAnalyzer().analyze(
        new BeanCreationException("webServerStartStop", "Unable to start web server",
            new IllegalStateException("wrapped", denied)));
    assertThat(analysis.getDescription()).isEqualTo("kube-mtls: CertificateSigningRequest csr-abc was denied:"
        + " PodBindingRequired: DNS and IP names need a token bound to a Pod");
    assertThat(analysis.getAction()).contains("did not retry").contains("--bound-object-kind=Pod");
    assertThat(analysis.getCause()).isInstanceOf(BeanCreationException.class);

    FailureAnalysis timeout = new KubeMtlsFailureAnalyzer().analyze(new IllegalStateException("x",
        new MtlsException("no certificate within PT2M: issuance in progress, waiting for approval")));
    assertThat(timeout.getDescription()).startsWith("kube-mtls: no certificate within PT2M");
    assertThat(timeout.getAction()).contains("signer");

    assertThat(new KubeMtlsFailureAnalyzer().analyze(new IllegalStateException("not ours"))).isNull();
  }
}
