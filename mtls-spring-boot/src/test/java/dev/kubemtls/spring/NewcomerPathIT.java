package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.signer.it.ShortLivedSigner;
import dev.kubemtls.spring.internal.KubeMtlsFailureAnalyzer;
import dev.kubemtls.testkit.ControlPlane;
import dev.kubemtls.testkit.LocalWorkload;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * On the real control plane, the newcomer's path of issue 29 with the Spring starter: a service run
 * locally with the environment {@link LocalWorkload} prints gets its certificate from the kube-mtls
 * signer; a service started with a token bound to no Pod is denied {@code PodBindingRequired} and
 * stops at once with that reason in one line, leaving one denied request, not one per retry.
 */
class NewcomerPathIT {

  static ShortLivedSigner signer;

  @BeforeAll
  static void startSigner() {
    signer = new ShortLivedSigner("newcomer");
  }

  @AfterAll
  static void stopSigner() throws Exception {
    if (signer != null) {
      signer.close();
    }
  }

  static ConfigurableApplicationContext start(List<String> properties) {
    List<String> all = new ArrayList<>(List.of(
        "kube-mtls.signer-name=" + signer.signerName(),
        "kube-mtls.lifetime=10m",
        "kube-mtls.startup-timeout=2m",
        "spring.main.banner-mode=off"));
    all.addAll(properties);
    return new SpringApplicationBuilder(MinimalApp.class).web(WebApplicationType.NONE)
        .properties(all.toArray(String[]::new)).run();
  }

  @org.springframework.context.annotation.Configuration(proxyBeanMethods = false)
  @org.springframework.boot.autoconfigure.ImportAutoConfiguration({
      org.springframework.boot.autoconfigure.ssl.SslAutoConfiguration.class, KubeMtlsAutoConfiguration.class})
  static class MinimalApp {
  }

  @Test
  void aServiceRunWithTheLocalWorkloadEnvironmentGetsItsCertificate(@TempDir Path out) throws Exception {
    ControlPlane cp = ControlPlane.shared();
    String namespace = signer.namespace("newcomer-local");
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    LocalWorkload.Result made = LocalWorkload.create(cp.adminClient(), cp.adminConfig(),
        new LocalWorkload.Options(namespace, "orders", List.of("orders"), null, "127.0.0.49", 1, out,
            Path.of("").toAbsolutePath().getParent().resolve("mtls-signer/deploy/workload-rbac.yaml")),
        new PrintStream(log, true, StandardCharsets.UTF_8));
    Map<String, String> env = made.environment();
    assertThat(env).containsEntry("POD_NAMESPACE", namespace).containsEntry("SERVICE_ACCOUNT", "orders")
        .containsEntry("POD_NAME", "orders-local").containsEntry("POD_IP", "127.0.0.49")
        .containsEntry("KUBEMTLS_KUBECONFIGFILE", made.kubeconfig().toString());
    assertThat(made.exports()).contains("export POD_NAME=orders-local\n");
    assertThat(Files.readString(made.kubeconfig())).contains("token: ");

    // The starter reads the environment through Spring's Environment: here as properties.
    try (ConfigurableApplicationContext context = start(List.of(
        "kube-mtls.services=orders",
        "kube-mtls.kubeconfig-file=" + env.get("KUBEMTLS_KUBECONFIGFILE"),
        "kube-mtls.service-account-dir=" + out,
        "POD_NAMESPACE=" + env.get("POD_NAMESPACE"), "SERVICE_ACCOUNT=" + env.get("SERVICE_ACCOUNT"),
        "POD_NAME=" + env.get("POD_NAME"), "POD_IP=" + env.get("POD_IP")))) {
      MtlsMaterial material = context.getBean(MaterialSource.class).current();
      assertThat(material.identity().leaf().getSubjectAlternativeNames().stream()
          .map(san -> String.valueOf(san.get(1))).toList())
          .contains("spiffe://cluster.local/ns/" + namespace + "/sa/orders", "orders." + namespace + ".svc",
              "127.0.0.49");
    }
  }

  @Test
  void aDenialThatCannotChangeStopsTheApplicationAtOnceWithOneDeniedRequest(@TempDir Path out) throws Exception {
    ControlPlane cp = ControlPlane.shared();
    KubernetesClient admin = cp.adminClient();
    String namespace = signer.namespace("newcomer-unbound");
    cp.createPod(namespace, "web-0", "web", Map.of("app", "web"), "10.93.0.7");
    ShortLivedSigner.bindWorkload(admin, namespace, "web");
    Path unbound = cp.writeKubeconfigFor(namespace, "web", null, Duration.ofHours(1));  // bound to no Pod

    long began = System.nanoTime();
    Throwable failure = null;
    try (ConfigurableApplicationContext context = start(List.of(
        "kube-mtls.kubeconfig-file=" + unbound,
        "kube-mtls.service-account-dir=" + out,
        "POD_NAMESPACE=" + namespace, "SERVICE_ACCOUNT=web", "POD_NAME=web-0", "POD_IP=10.93.0.7"))) {
      context.getBean(MaterialSource.class).current();
    } catch (RuntimeException e) {
      failure = e;
    }
    Duration took = Duration.ofNanos(System.nanoTime() - began);
    assertThat(failure).as("the application failed to start").isNotNull();
    FailureAnalysis analysis = new KubeMtlsFailureAnalyzer().analyze(failure);
    assertThat(analysis).isNotNull();
    assertThat(analysis.getDescription()).doesNotContain("\n").startsWith("kube-mtls: CertificateSigningRequest ")
        .contains("was denied: PodBindingRequired");
    assertThat(analysis.getAction()).contains("did not retry");
    // Well inside kube-mtls.startup-timeout (2 minutes): no retries until the timeout.
    assertThat(took).isLessThan(Duration.ofSeconds(60));
    List<CertificateSigningRequest> requests = admin.certificates().v1().certificateSigningRequests().list().getItems()
        .stream().filter(csr -> signer.signerName().equals(csr.getSpec().getSignerName()))
        .filter(csr -> ("system:serviceaccount:" + namespace + ":web").equals(csr.getSpec().getUsername()))
        .toList();
    assertThat(requests).hasSize(1);
  }
}
