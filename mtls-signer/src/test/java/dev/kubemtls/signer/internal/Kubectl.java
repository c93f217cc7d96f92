package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.testkit.ControlPlane;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The control plane's own kubectl, as an administrator: what an operator would see. */
final class Kubectl {

  private Kubectl() {}

  /** Runs {@code kubectl args...}, checks it exits 0 and returns its output. */
  static String run(ControlPlane cp, String... args) throws IOException, InterruptedException {
    Path kubectl = ControlPlane.binaryDirectory().resolve("kubectl");
    List<String> command = new java.util.ArrayList<>(List.of(kubectl.toString(),
        "--kubeconfig=" + cp.writeAdminKubeconfig()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("kubectl " + String.join(" ", args) + " finished").isTrue();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    System.out.println("$ kubectl " + String.join(" ", args) + "\n" + out);
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }}
