package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The probes of a real signer replica, leading on the real control plane, while clients hold
 * half-sent requests on both the probe port and the metrics port ({@code --probe-address} apart
 * from {@code --metrics-address}): {@code /livez} and {@code /readyz} still answer, while every
 * half-sent request is still held open.
 */
class ProbesIT {

  @Test
  void halfSentRequestsDoNotDelayTheProbesOfALeadingReplica() throws Exception {
    SignerFixture fx = SignerFixture.get();
    Signer leader = fx.awaitLeader();
    // Ready first (informer synced, CA loaded): what is measured is the answer, not the start-up.
    org.awaitility.Awaitility.await("the leader to be ready").atMost(Duration.ofSeconds(60))
        .until(() -> leader.notReady().isEmpty());
    InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (SignerServer probes = SignerServer.startProbes(loopback, leader);
        SignerServer metrics = SignerServer.startMetrics(loopback, registry)) {
      List<Socket> holders = new ArrayList<>();
      try {
        for (SignerServer server : List.of(probes, metrics)) {
          for (int i = 0; i < 8; i++) {
            Socket s = new Socket("127.0.0.1", server.address().getPort());
            s.getOutputStream().write("GET /livez HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            holders.add(s);
          }
        }
        long start = System.nanoTime();
        HttpResponse<String> livez = Scrape.request(probes.address(), "GET", "/livez");
        HttpResponse<String> readyz = Scrape.request(probes.address(), "GET", "/readyz");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(livez.body()).isEqualTo("ok\n");
        assertThat(readyz.statusCode()).isEqualTo(200);
        assertThat(readyz.body()).isEqualTo("ok: leader\n");
        // Not delayed by the half-sent requests: they are all still open, unanswered, so the probes
        // did not wait for the server to give up on them (it allows a request head 5 s). Judged by
        // the server's own state, not by a wall-clock bound that a loaded machine could break.
        System.out.println("kube-mtls ProbesIT: /livez and /readyz answered in " + took.toMillis() + " ms");
        for (Socket held : holders) {
          held.setSoTimeout(10);
          assertThatThrownBy(() -> held.getInputStream().read()).as("a held connection is still open, unanswered")
              .isInstanceOf(java.net.SocketTimeoutException.class);
        }
        // Each port serves only its own paths.
        assertThat(Scrape.request(probes.address(), "GET", "/metrics").statusCode()).isEqualTo(404);
        assertThat(Scrape.request(metrics.address(), "GET", "/livez").statusCode()).isEqualTo(404);
        assertThat(Scrape.request(metrics.address(), "GET", "/metrics").statusCode()).isEqualTo(200);
      } finally {
        for (Socket s : holders) {
          s.close();
        }
      }
    }
  }
}
