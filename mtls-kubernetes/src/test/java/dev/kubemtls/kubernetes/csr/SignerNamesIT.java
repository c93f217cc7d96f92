package dev.kubemtls.kubernetes.csr;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.names.SignerNames;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.internal.Pkcs10;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link SignerNames} is the API server's rule, checked against the API server itself: every name
 * below is sent as the {@code spec.signerName} of a real CertificateSigningRequest, and the
 * server's verdict must equal ours. Reserved {@code kubernetes.io} names are syntactically valid
 * (the server takes them), so they are compared with the reservation check turned off.
 */
class SignerNamesIT {

  private static final List<String> NAMES = List.of(
      "kube-mtls.dev/workload", "example.com/a.b", "a.b/c", "sub.example.com/signer-1",
      "kubernetes.io/kube-apiserver-client", "example.com/" + "p".repeat(63) + "." + "q".repeat(200),
      "kube-mtls.dev/workload/v2", "local/signer", "no-slash", "example.com/", "example.com/Upper",
      "example.com/a_b", "example.com/a..b", "example.com/-x", "Example.com/x", "example..com/x",
      "example.com/x.", "-a.com/x", "a." + "b".repeat(64) + ".com/x", "example.com/" + "p".repeat(254),
      "a".repeat(250) + ".com/x");

  @Test
  void ourVerdictOnEverySignerNameIsTheApiServers() {
    KubernetesClient admin = ControlPlane.shared().adminClient();
    WorkloadIdentity id = WorkloadIdentity.builder("default", "signer-names").build();
    String request = Base64.getEncoder().encodeToString(Pkcs10.toPem(Pkcs10.create(id,
        KeyAlgorithm.EC_P256.generate(new SecureRandom()), KeyAlgorithm.EC_P256)).getBytes(StandardCharsets.US_ASCII));
    List<String> disagreements = new ArrayList<>();
    int i = 0;
    for (String name : NAMES) {
      boolean ours = accepted(name);
      boolean server;
      String csrName = "signer-names-it-" + i++;
      try {
        admin.certificates().v1().certificateSigningRequests().resource(new CertificateSigningRequestBuilder()
            .withNewMetadata().withName(csrName).endMetadata()
            .withNewSpec().withSignerName(name).withRequest(request).withUsages("client auth").endSpec().build())
            .create();
        server = true;
        admin.certificates().v1().certificateSigningRequests().withName(csrName).delete();
      } catch (KubernetesClientException e) {
        assertThat(e.getCode()).as("the server's answer to " + name).isEqualTo(422);
        server = false;
      }
      if (ours != server) {
        disagreements.add(name + ": server " + (server ? "accepts" : "refuses") + ", SignerNames "
            + (ours ? "accepts" : "refuses"));
      }
    }
    assertThat(disagreements).isEmpty();
  }

  private static boolean accepted(String name) {
    try {
      SignerNames.require(name, true);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }
}
