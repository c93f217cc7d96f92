package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    assertThat(c.validity()).isEqualTo(ValidityPolicy.DEFAULT);
    assertThat(c.policyMode()).isEqualTo(ApprovalPolicy.Mode.STRICT);
    assertThat(c.leaseNamespace()).isEqualTo("kube-mtls");
    assertThat(c.identity()).isEqualTo("signer-0");
    assertThat(c.clusterTrustBundle()).as("the ClusterTrustBundle is published where served")
        .isEqualTo(SignerConfig.Publication.AUTO);
    assertThat(c.podCertificates()).as("pod certificates are opt-in").isFalse();
    assertThat(c.maxNames()).isEqualTo(64);
    assertThat(c.lookups()).isEqualTo(SignerConfig.LookupMode.CACHE);
    assertThat(c.approvalPolicy().maxNames()).isEqualTo(64);
  }

  @Test
  void theNameCapIsSetByFlag() {
    SignerConfig c = SignerConfig.parse(List.of("--signer-name=kube-mtls.dev/workload", "--ca-secret-namespace=x",
        "--max-names=8"), ENV);
    assertThat(c.approvalPolicy().maxNames()).isEqualTo(8);
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
    assertThat(c.validity().maxTtl()).isEqualTo(Duration.ofSeconds(90));
    assertThat(c.validity().minTtl()).isEqualTo(Duration.ofSeconds(30));
    assertThat(c.policyMode()).isEqualTo(ApprovalPolicy.Mode.LOOSE);
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
  void usageListsEveryFlag() {
    String usage = SignerMain.usage();
    for (SignerConfig.Flag f : SignerConfig.Flag.values()) {
      assertThat(usage).contains(f.flag()).contains(f.environmentVariable());
    }
  }
}
