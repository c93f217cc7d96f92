package dev.kubemtls.samples.demo;

import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.ValidityPolicy;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The signer's part of the demo: its shipped manifests, its CA Secret, its flags, the CA rotation. */
final class SignerSetup {

  /** The manifests mtls-signer ships (on the class path from its jar). */
  static final List<String> MANIFESTS = List.of("kube-mtls/deploy/namespace.yaml",
      "kube-mtls/deploy/signer-rbac.yaml", "kube-mtls/deploy/workload-rbac.yaml",
      "kube-mtls/deploy/signer-deployment.yaml");

  /** The label the demo puts on the CA Secret it creates, so that a later run knows it for the demo's. */
  static final String DEMO_LABEL = "app.kubernetes.io/managed-by";
  static final String DEMO_LABEL_VALUE = "kube-mtls-demo";

  private SignerSetup() {}

  /** Creates the CA Secret the signer starts from, as an operator would before deploying it. */
  static void createCaSecret(KubernetesClient admin) {
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls demo CA 1", Duration.ofDays(30),
        ValidityPolicy.DEFAULT, InstantSource.system(), new SecureRandom());
    Secret secret = ca.toSecret(Demo.SYSTEM_NAMESPACE, Demo.CA_SECRET);
    secret.getMetadata().setLabels(Map.of(DEMO_LABEL, DEMO_LABEL_VALUE));
    admin.secrets().inNamespace(Demo.SYSTEM_NAMESPACE).resource(secret).create();
  }

  /**
   * The Deployment's arguments with the demo's short timings: every certificate lives
   * {@code certTtl}, a new CA is trusted 10 s before it signs, a former CA stays trusted 5 s past
   * the longest certificate it may have signed.
   */
  static List<String> args(PodTemplateSpec template, DemoOptions options) {
    long ttl = options.certTtl().toSeconds();
    List<String> args = new ArrayList<>();
    for (String arg : template.getSpec().getContainers().get(0).getArgs()) {
      if (!arg.startsWith("--min-ttl=") && !arg.startsWith("--max-ttl=") && !arg.startsWith("--metrics-address=")) {
        args.add(arg);
      }
    }
    args.add("--min-ttl=" + ttl + "s");
    args.add("--max-ttl=" + ttl + "s");
    args.add("--backdate=2s");
    args.add("--ca-propagation-delay=10s");
    args.add("--ca-retention-margin=5s");
    // A free loopback port instead of the Deployment's :9090; the signer says which (the metrics event).
    args.add("--metrics-address=127.0.0.1:0");
    return args;
  }

  /** The documented trigger of a CA rotation: a new CA written into the CA Secret. */
  static void rotateCa(KubernetesClient admin) {
    Signer.writeNewCa(admin, Demo.SYSTEM_NAMESPACE, Demo.CA_SECRET, Duration.ofDays(30));
  }
}
