package dev.kubemtls.signer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.ValidityPolicy;
import dev.kubemtls.testkit.ControlPlane;
import io.fabric8.kubernetes.api.model.Secret;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code SignerMain rotate-ca} with the kubeconfigs the rest of kube-mtls reads: the control plane's
 * admin kubeconfig holds an EC client key in PKCS#8 form ({@code PRIVATE KEY}), which fabric8 alone
 * takes for RSA; and a failure says what failed instead of "An error has occurred".
 */
class RotateCaIT {

  @TempDir
  Path dir;

  @Test
  void rotatesWithAnEcPkcs8ClientKeyAndNamesTheCauseOfAFailure() throws Exception {
    ControlPlane cp = ControlPlane.shared();
    Path kubeconfig = cp.writeAdminKubeconfig();
    String key = Files.readString(Path.of(Files.readAllLines(kubeconfig).stream()
        .filter(l -> l.strip().startsWith("client-key:")).findFirst().orElseThrow().strip()
        .substring("client-key:".length()).strip()));
    assertThat(key).as("the case of the issue: an EC key in PKCS#8 form").startsWith("-----BEGIN PRIVATE KEY-----");

    String ns = cp.createNamespace("rotate-ca");
    CertificateAuthority first = CertificateAuthority.generate("first", Duration.ofDays(1), ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
    cp.adminClient().secrets().inNamespace(ns).resource(first.toSecret(ns, "ca")).create();

    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = SignerMain.rotateCa(List.of("--kubeconfig=" + kubeconfig, "--ca-secret-namespace=" + ns,
        "--ca-secret-name=ca", "--ca-lifetime=48h"), Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("wrote a new CA into Secret " + ns + "/ca");
    Secret rotated = cp.adminClient().secrets().inNamespace(ns).withName("ca").get();
    CertificateAuthority second = CertificateAuthority.fromSecret(rotated, ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
    assertThat(second.certificate()).isNotEqualTo(first.certificate());

    // A Secret that does not exist: the API server's answer is in the message.
    err.reset();
    code = SignerMain.rotateCa(List.of("--kubeconfig=" + kubeconfig, "--ca-secret-namespace=" + ns,
        "--ca-secret-name=missing"), Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("cannot update Secret " + ns + "/missing")
        .contains("not found");

    // An API server that is not there: the cause, not only fabric8's "An error has occurred".
    Path nowhere = dir.resolve("nowhere.kubeconfig");
    Files.writeString(nowhere, Files.readString(kubeconfig).replace(cp.apiServerUrl(), "https://127.0.0.1:1"));
    err.reset();
    code = SignerMain.rotateCa(List.of("--kubeconfig=" + nowhere, "--ca-secret-namespace=" + ns,
        "--ca-secret-name=ca"), Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("https://127.0.0.1:1").contains("ConnectException");
  }
}
