package dev.kubemtls.samples;

import dev.kubemtls.signer.CaRotation;
import dev.kubemtls.signer.Signer;
import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.SignerListener;
import dev.kubemtls.signer.SignerMain;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

/**
 * The kube-mtls signer as the demo runs it: {@link SignerMain} with the same flags, plus a listener
 * that prints each issuance and CA rotation step as a demo event line.
 */
public final class DemoSigner {

  public static void main(String[] args) throws InterruptedException {
    SignerConfig config = SignerConfig.parse(Arrays.asList(args), System.getenv());
    KubernetesClient client = new KubernetesClientBuilder().build();
    Signer signer = SignerMain.start(client, config, new SignerListener() {
      @Override
      public void issued(String csrName, X509Certificate certificate) {
        DemoEvents.emit("signed", "csr=" + csrName, "serial=" + certificate.getSerialNumber().toString(16),
            "issuer=\"" + certificate.getIssuerX500Principal().getName() + "\"");
      }

      @Override
      public void caRotation(CaRotation.Change change, CaRotation state) {
        String kind = switch (change) {
          case STARTED, PENDING_REPLACED -> "ca_rotation_started";
          case SWITCHED -> "ca_signing_switched";
          case RETIRED -> "ca_rotation_completed";
          case PENDING_CANCELLED -> "ca_rotation_cancelled";
        };
        DemoEvents.emit(kind, "signing=\"" + state.signing().certificate().getSubjectX500Principal().getName() + "\"",
            "bundle=" + state.bundle().size());
      }

      @Override
      public void caRejected(String problem) {
        DemoEvents.emit("ca_rejected", "problem=\"" + problem + "\"");
      }
    });
    DemoEvents.emit("ready", "signer=" + config.signerName(), "identity=" + config.identity());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      signer.close();
      client.close();
      stopped.countDown();
    }));
    stopped.await();
  }
}
