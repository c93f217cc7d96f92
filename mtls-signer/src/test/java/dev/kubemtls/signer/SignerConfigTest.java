package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.signer.internal.ApprovalPolicy;
import dev.kubemtls.signer.internal.ValidityPolicy;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class SignerConfigTest {

  private static final Map<String, String> ENV = Map.of("POD_NAME", "signer-0");

  @Test
  void defaultsAndRequiredFlags() {
    SignerConfig c = SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace",
        "kube-mtls"), ENV);
    assertThat(c.signerName()).isEqualTo("kube-mtls.dev/workload");
    assertThat(c.caSecretName()).isEqualTo("kube-mtls-ca");
    assertThat(c.bundleConfigMapName()).isEqualTo("kube-mtls-ca-bundle");
    assertThat(c.bundleKey()).isEqualTo("ca.crt");
    assertThat(c.namespaceLabel()).isEqualTo("kube-mtls.dev/inject-bundle=true");
    assertThat(ValidityPolicy.of(c)).isEqualTo(ValidityPolicy.DEFAULT);
    assertThat(c.policyMode()).isEqualTo(SignerConfig.PolicyMode.STRICT);
    assertThat(c.leaseNamespace()).isEqualTo("kube-mtls");
    assertThat(c.identity()).isEqualTo("signer-0");
    assertThat(c.clusterTrustBundle()).as("the ClusterTrustBundle is published where served")
        .isEqualTo(SignerConfig.Publication.AUTO);
    assertThat(c.podCertificates()).as("pod certificates are opt-in").isFalse();
    assertThat(c.maxNames()).isEqualTo(64);
    assertThat(c.lookups()).isEqualTo(SignerConfig.LookupMode.CACHE);
    assertThat(c.approve()).as("the signer approves unless told not to").isTrue();
    assertThat(ApprovalPolicy.forConfig(c).maxNames()).isEqualTo(64);
  }

  @Test
  void approvalIsTurnedOffByFlagOrEnvironmentAndTheFlagWins() {
    List<String> required = List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=kube-mtls");
    List<String> off = new java.util.ArrayList<>(required);
    off.add("--approve=false");
    assertThat(SignerConfig.parse(off, ENV).approve()).isFalse();
    assertThat(SignerConfig.parse(required, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_APPROVE", "FALSE"))
        .approve()).isFalse();
    List<String> on = new java.util.ArrayList<>(required);
    on.add("--approve=true");
    assertThat(SignerConfig.parse(on, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_APPROVE", "false"))
        .approve()).isTrue();
    assertThat(SignerConfig.builder("kube-mtls.dev/workload").caSecret("kube-mtls", "kube-mtls-ca")
        .approve(false).build().approve()).isFalse();
  }

  @Test
  void theNameCapIsSetByFlag() {
    SignerConfig c = SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=x",
        "--max-names=8"), ENV);
    assertThat(ApprovalPolicy.forConfig(c).maxNames()).isEqualTo(8);
    assertThat(SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=x",
        "--lookups=request"), ENV).lookups()).isEqualTo(SignerConfig.LookupMode.REQUEST);
  }

  @Test
  void theClusterTrustBundleIsSetByFlagOrEnvironmentAndTheFlagWins() {
    List<String> required = List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=kube-mtls");
    List<String> on = new java.util.ArrayList<>(required);
    on.add("--cluster-trust-bundle=true");
    assertThat(SignerConfig.parse(on, ENV).clusterTrustBundle()).isEqualTo(SignerConfig.Publication.ON);
    assertThat(SignerConfig.parse(required, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_CLUSTER_TRUST_BUNDLE", "TRUE"))
        .clusterTrustBundle()).isEqualTo(SignerConfig.Publication.ON);
    List<String> off = new java.util.ArrayList<>(required);
    off.add("--cluster-trust-bundle=false");
    assertThat(SignerConfig.parse(off, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_CLUSTER_TRUST_BUNDLE", "true"))
        .clusterTrustBundle()).isEqualTo(SignerConfig.Publication.OFF);
    List<String> auto = new java.util.ArrayList<>(required);
    auto.add("--cluster-trust-bundle=Auto");
    assertThat(SignerConfig.parse(auto, ENV).clusterTrustBundle()).isEqualTo(SignerConfig.Publication.AUTO);
    List<String> bad = new java.util.ArrayList<>(required);
    bad.add("--cluster-trust-bundle=maybe");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> SignerConfig.parse(bad, ENV))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("must be auto, true or false");
    assertThat(SignerConfig.builder("kube-mtls.dev/workload").clusterTrustBundle(true).build().clusterTrustBundle())
        .isEqualTo(SignerConfig.Publication.ON);
    assertThat(SignerConfig.builder("kube-mtls.dev/workload").build().clusterTrustBundle())
        .isEqualTo(SignerConfig.Publication.AUTO);
  }

  @Test
  void podCertificatesAreTurnedOnByFlagOrEnvironmentAndTheFlagWins() {
    List<String> required = List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=kube-mtls");
    List<String> on = new java.util.ArrayList<>(required);
    on.add("--pod-certificates=true");
    assertThat(SignerConfig.parse(on, ENV).podCertificates()).isTrue();
    assertThat(SignerConfig.parse(required, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_POD_CERTIFICATES", "True"))
        .podCertificates()).isTrue();
    List<String> off = new java.util.ArrayList<>(required);
    off.add("--pod-certificates=false");
    assertThat(SignerConfig.parse(off, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_POD_CERTIFICATES", "true"))
        .podCertificates()).isFalse();
    assertThat(SignerConfig.builder("kube-mtls.dev/workload").caSecret("kube-mtls", "kube-mtls-ca")
        .podCertificates(true).build().podCertificates()).isTrue();
    assertThat(SignerMain.usage()).contains("--pod-certificates").contains("KUBE_MTLS_POD_CERTIFICATES");
  }

  @Test
  void environmentVariablesApplyAndFlagsWin() {
    SignerConfig c = SignerConfig.parse(List.of("--max-ttl=90s"), Map.of(
        "KUBE_MTLS_SIGNER_NAME", "example.com/svc", "KUBE_MTLS_CA_SECRET_NAMESPACE", "pki",
        "KUBE_MTLS_MAX_TTL", "2h", "KUBE_MTLS_MIN_TTL", "30s", "KUBE_MTLS_POLICY", "loose",
        "KUBE_MTLS_IDENTITY", "me"));
    assertThat(c.maxTtl()).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.minTtl()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.policyMode()).isEqualTo(SignerConfig.PolicyMode.LOOSE);
    assertThat(c.identity()).isEqualTo("me");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "--ca-secret-namespace=x                                       | --signer-name",
      "--signer-name=kubernetes.io/legacy-unknown                    | --signer-name",
      "--signer-name=no-slash                                        | --signer-name",
      "--max-ttl=forever                                             | --max-ttl",
      "--min-ttl=48h                                                 | --min-ttl/--max-ttl",
      "--policy=permissive                                           | --policy",
      "--namespace-label=novalue                                     | --namespace-label",
      "--bundle-configmap=Bad_Name                                   | --bundle-configmap",
      "--renew-deadline=20s                                          | --renew-deadline",
      "--workers=0                                                   | --workers",
      "--trust-domain=Upper.Case                                     | --trust-domain",
      "--unknown=1                                                   | unknown flag --unknown",
      "--cluster-trust-bundle=yes                                    | --cluster-trust-bundle",
      "--pod-certificates=on                                         | --pod-certificates",
      "--approve=no                                                  | --approve",
      "--max-names=0                                                 | --max-names",
      "--max-names=257                                               | --max-names",
      "--max-names=many                                              | --max-names",
      "--lookups=sometimes                                           | --lookups",
  })
  void badConfigurationNamesTheFlag(String arg, String flag) {
    List<String> args = new java.util.ArrayList<>(List.of(arg));
    if (!arg.startsWith("--signer-name") && !arg.startsWith("--ca-secret-namespace")) {
      args.add("--signer-name=kube-mtls.dev/workload");
    }
    if (!arg.startsWith("--ca-secret-namespace")) {
      args.add("--ca-secret-namespace=kube-mtls");
    }
    assertThatThrownBy(() -> SignerConfig.parse(args, ENV)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(flag);
  }

  @Test
  void theDefaultsOfTheFlagsAreTheBuildersDefaults() {
    SignerConfig parsed = SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload",
        "--ca-secret-namespace=kube-mtls", "--identity=signer-0"), Map.of());
    SignerConfig built = SignerConfig.builder("kube-mtls.dev/workload").caSecret("kube-mtls", "kube-mtls-ca")
        .lease("kube-mtls", "kube-mtls-signer", "signer-0").build();
    assertThat(parsed).isEqualTo(built);
  }

  @Test
  void aFlagOverridesABadVariableAndABadVariableIsNamed() {
    List<String> args = List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=kube-mtls");
    Map<String, String> env = Map.of("POD_NAME", "signer-0", "KUBE_MTLS_MAX_TTL", "forever");
    List<String> withFlag = new java.util.ArrayList<>(args);
    withFlag.add("--max-ttl=1h");
    assertThat(SignerConfig.parse(withFlag, env).maxTtl()).isEqualTo(Duration.ofHours(1));
    assertThatThrownBy(() -> SignerConfig.parse(args, env)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--max-ttl").hasMessageContaining("'forever' is not a duration")
        .hasMessageContaining("set by KUBE_MTLS_MAX_TTL");
    assertThat(SignerConfig.parse(args, Map.of("POD_NAME", "signer-0", "KUBE_MTLS_WORKERS", "  "))
        .workers()).as("a blank variable counts as unset").isEqualTo(32);
  }

  @Test
  void argumentsAreTakenAsWrittenAndMisspelledFlagsGetASuggestion() {
    List<String> args = new java.util.ArrayList<>(List.of("--signer-name=kube-mtls.dev/workload",
        "--ca-secret-namespace=kube-mtls"));
    assertThatThrownBy(() -> SignerConfig.parse(List.of("@/etc/hostname"), ENV))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unexpected argument '@/etc/hostname'");
    args.add("--identity=${env:HOME}");
    assertThat(SignerConfig.parse(args, ENV).identity()).isEqualTo("${env:HOME}");
    args.add("--max-tll=1h");
    assertThatThrownBy(() -> SignerConfig.parse(args, ENV)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unknown flag --max-tll").hasMessageContaining("did you mean --max-ttl");
    assertThatThrownBy(() -> SignerConfig.parse(List.of("--signer-name"), ENV))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--signer-name");
  }

  @Test
  void usageListsEveryFlag() {
    String usage = SignerMain.usage();
    assertThat(SignerFlags.options()).extracting(o -> o.longestName()).containsExactly("--signer-name",
        "--ca-secret-namespace", "--ca-secret-name", "--bundle-configmap", "--bundle-key", "--namespace-label",
        "--min-ttl", "--max-ttl", "--backdate", "--policy", "--trust-domain", "--cluster-domain", "--lease-namespace",
        "--lease-name", "--identity", "--lease-duration", "--renew-deadline", "--retry-period", "--workers",
        "--ca-propagation-delay", "--ca-retention-margin", "--cluster-trust-bundle", "--metrics-address",
        "--probe-address", "--max-names", "--lookups", "--pod-certificates", "--bare-service-names", "--approve");
    for (picocli.CommandLine.Model.OptionSpec o : SignerFlags.options()) {
      assertThat(usage).contains(o.longestName()).contains(SignerFlags.environmentVariable(o.longestName()));
    }
  }

  @Test
  void theReadmeTableListsEveryFlagWithItsVariable() throws java.io.IOException {
    String readme = java.nio.file.Files.readString(java.nio.file.Path.of("README.md"));
    for (picocli.CommandLine.Model.OptionSpec o : SignerFlags.options()) {
      assertThat(readme).contains("| `" + o.longestName() + "` | `" + SignerFlags.environmentVariable(o.longestName())
          + "` |");
    }
  }

  @Test
  void rotateCaReadsItsFlagsAndTheSignersVariablesForTheSecret() {
    SignerFlags.RotateCa defaults = SignerFlags.RotateCa.parse(List.of(), Map.of());
    assertThat(defaults.namespace).isEqualTo("kube-mtls");
    assertThat(defaults.name).isEqualTo("kube-mtls-ca");
    assertThat(defaults.lifetime).isEqualTo(Duration.ofDays(365));
    assertThat(defaults.kubeconfig).isNull();
    SignerFlags.RotateCa set = SignerFlags.RotateCa.parse(List.of("--ca-secret-name", "ca", "--ca-lifetime=48h",
        "--kubeconfig=admin.kubeconfig"), Map.of("KUBE_MTLS_CA_SECRET_NAMESPACE", "pki", "KUBE_MTLS_CA_LIFETIME", "1h"));
    assertThat(set.namespace).isEqualTo("pki");
    assertThat(set.name).isEqualTo("ca");
    assertThat(set.lifetime).isEqualTo(Duration.ofHours(48));
    assertThat(set.kubeconfig).isEqualTo(java.nio.file.Path.of("admin.kubeconfig"));
    assertThat(SignerFlags.RotateCa.parse(List.of(), Map.of("KUBE_MTLS_CA_LIFETIME", "1h")).lifetime)
        .as("only the CA Secret comes from the signer's variables").isEqualTo(Duration.ofDays(365));
  }

  @Test
  void rotateCaRefusesBadArgumentsWithStatusTwoBeforeConnecting() {
    for (List<String> args : List.of(List.of("--ca-lifetime=forever"), List.of("--ca-namespace=x"), List.of("x"),
        List.of("--ca-lifetim=1h"))) {
      java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
      int code = SignerMain.rotateCa(args, Map.of(), new java.io.PrintStream(new java.io.ByteArrayOutputStream()),
          new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
      assertThat(code).as("%s", args).isEqualTo(2);
      if (args.get(0).startsWith("--ca-lifetim=")) {
        assertThat(err.toString(java.nio.charset.StandardCharsets.UTF_8)).contains("did you mean --ca-lifetime?");
      }
      if (args.get(0).startsWith("--ca-namespace")) {
        assertThat(err.toString(java.nio.charset.StandardCharsets.UTF_8)).contains("did you mean --ca-secret-namespace");
      }
      assertThat(err.toString(java.nio.charset.StandardCharsets.UTF_8)).startsWith("kube-mtls rotate-ca: ")
          .contains("--ca-lifetime, --kubeconfig");
    }
  }
}
