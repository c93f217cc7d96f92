package dev.kubemtls.samples;

import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.netty.ClientTls;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.servlet.JettyMtls;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;

/**
 * Drives steady traffic for the demo: a new Netty connection to the echo server for every other
 * request (a full handshake with whatever certificate is current), a long-lived echo connection
 * that must survive every rotation, and HTTPS calls to the web service with Jetty's client.
 * Reports its counts; exits 0 when the run ends.
 */
public final class EchoClient {

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  public static void main(String[] args) throws Exception {
    String[] echo = SampleSupport.address("ECHO_ADDRESS");
    String[] web = SampleSupport.address("WEB_ADDRESS");
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    AtomicLong requests = new AtomicLong();
    AtomicLong failed = new AtomicLong();

    try (KubernetesClient client = new KubernetesClientBuilder().build();
         KubeMtls certificates = SampleSupport.startWorkload(client);
         // The long-lived echo connection below outlives every rotation on purpose: unbounded, as
         // on the echo server (see mtls-netty's README, "Connection lifetime").
         ClientTls tls = NettyMtls.forClient(certificates).unboundedConnections().build()) {
      EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
      HttpClient http = JettyMtls.forClient(certificates).newHttpClient();
      http.start();
      LineClient lines = new LineClient(tls, group);
      LineClient.Connection longLived = lines.open(echo[0], Integer.parseInt(echo[1]), TIMEOUT);
      DemoEvents.emit("ready", "echo=" + echo[0] + ":" + echo[1], "web=" + web[0] + ":" + web[1]);

      // One request every 30 ms (about 33 a second), stats every second, for the run's duration.
      ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
      AtomicLong counter = new AtomicLong();
      pace.scheduleWithFixedDelay(() -> {
        long i = counter.incrementAndGet();
        String what = switch ((int) (i % 3)) {
          case 0 -> "new echo connection";
          case 1 -> "long-lived echo connection";
          default -> "web over Jetty";
        };
        try {
          String answer = switch ((int) (i % 3)) {
            case 0 -> lines.call(echo[0], Integer.parseInt(echo[1]), "request " + i, TIMEOUT);
            case 1 -> longLived.request("request " + i, TIMEOUT);
            default -> {
              ContentResponse r = http.newRequest("https://" + web[0] + ":" + web[1] + "/hello")
                  .timeout(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).send();
              if (r.getStatus() != 200) {
                throw new java.io.IOException("HTTP " + r.getStatus() + ": " + r.getContentAsString());
              }
              yield r.getContentAsString();
            }
          };
          if (!answer.contains("request " + i) && !answer.startsWith("web answers")) {
            throw new java.io.IOException("unexpected answer: " + answer);
          }
          requests.incrementAndGet();
        } catch (Exception e) {
          if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
            return;
          }
          requests.incrementAndGet();
          failed.incrementAndGet();
          DemoEvents.emit("request_failed", "via=\"" + what + "\"", "error=\"" + LineClient.rootMessage(e) + "\"");
        }
      }, 0, 30, TimeUnit.MILLISECONDS);
      pace.scheduleAtFixedRate(() -> DemoEvents.emit("stats", "requests=" + requests.get(),
          "failed=" + failed.get()), 1, 1, TimeUnit.SECONDS);
      // The run ends when its time is up; the scheduler finishes the request in flight.
      if (pace.awaitTermination(seconds, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the traffic scheduler stopped early");
      }
      pace.shutdown();
      if (!pace.awaitTermination(30, TimeUnit.SECONDS)) {
        pace.shutdownNow();
      }
      longLived.close();
      http.stop();
      group.shutdownGracefully().syncUninterruptibly();
    }
    DemoEvents.emit("traffic_done", "requests=" + requests.get(), "failed=" + failed.get());
  }
}
