package dev.kubemtls.samples;

import dev.kubemtls.signer.SignerConfig;
import dev.kubemtls.signer.SignerMain;
import dev.kubemtls.signer.internal.ApprovalDecision;
import dev.kubemtls.signer.internal.CaRotation;
import dev.kubemtls.signer.internal.Signer;
import dev.kubemtls.signer.internal.SignerListener;
import dev.kubemtls.signer.internal.SignerMetrics;
import dev.kubemtls.signer.internal.SignerServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;

/**
 * The kube-mtls signer as the demo runs it: {@link SignerMain} with the same flags, plus a listener
 * that prints each issuance, denial and CA rotation step as a demo event line. Its meters are served
 * on {@code --metrics-address} as SignerMain serves them; the bound address is printed as the
 * {@code metrics} event, so that the demo can read the signer's counters at the end.
 */
public final class DemoSigner {

  public static void main(String[] args) throws InterruptedException {
    SignerConfig config = SignerConfig.parse(Arrays.asList(args), System.getenv());
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    SignerMetrics metrics = new SignerMetrics(registry);
    KubernetesClient client = new KubernetesClientBuilder().build();
    Signer signer = Signer.startFromSecret(client, config, SignerListener.all(metrics, new SignerListener() {
      @Override
      public void decided(String csrName, ApprovalDecision decision) {
        if (!decision.approved()) {
          DemoEvents.emit("denied", "csr=" + csrName, "reason=" + decision.reason());
        }
      }

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
    }));
    metrics.bind(signer);
    SignerServer server = SignerServer.address(Arrays.asList(args), System.getenv())
        .map(a -> SignerServer.start(a, signer, registry)).orElse(null);
    if (server != null) {
      DemoEvents.emit("metrics", "address=" + server.address().getHostString() + ":" + server.address().getPort());
    }
    DemoEvents.emit("ready", "signer=" + config.signerName(), "identity=" + config.identity());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (server != null) {
        server.close();
      }
      signer.close();
      client.close();
      stopped.countDown();
    }));
    stopped.await();
  }
}
