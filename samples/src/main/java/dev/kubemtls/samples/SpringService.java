package dev.kubemtls.samples;

import dev.kubemtls.core.rotation.ManagerListener;
import java.security.Principal;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.restclient.autoconfigure.RestClientSsl;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.client.RestClient;

/**
 * A Spring Boot service on mtls-spring-boot: {@code GET /hello} answers a verified caller (its
 * SPIFFE ID is the principal) after calling the web service over mTLS with a {@link RestClient}
 * built once from the {@code kube-mtls} SSL bundle. Configured by the starter's properties as
 * environment variables ({@code KUBEMTLS_SIGNERNAME}, {@code KUBEMTLS_SERVICES},
 * {@code SERVER_SSL_BUNDLE}; see {@code k8s/50-spring.yaml}). For the demo, with
 * {@code DEMO_DURATION_SECONDS} set, it also calls its own endpoint over mTLS for that long and
 * reports the counts, then exits.
 */
@SpringBootConfiguration
@EnableAutoConfiguration
@Import(SpringService.Hello.class)
public class SpringService {

  public static void main(String[] args) throws Exception {
    SpringApplication application = new SpringApplication(SpringService.class);
    application.setDefaultProperties(Map.of(
        "server.address", SampleSupport.env("POD_IP", "127.0.0.1"),
        "spring.main.banner-mode", "off"));
    ConfigurableApplicationContext context = application.run(args);
    String duration = System.getenv("DEMO_DURATION_SECONDS");
    if (duration == null) {
      return;
    }
    int port = ((WebServerApplicationContext) context).getWebServer().getPort();
    String self = "https://" + SampleSupport.env("POD_IP", "127.0.0.1") + ":" + port;
    RestClient caller = context.getBean(RestClient.Builder.class).baseUrl(self)
        .apply(context.getBean(RestClientSsl.class).fromBundle("kube-mtls")).build();
    DemoEvents.emit("ready", "listen=" + self.substring("https://".length()));
    drive(caller, Long.parseLong(duration));
    context.close();
    System.exit(0);
  }

  /** One request every 50 ms for {@code seconds}, stats every second, then traffic_done. */
  private static void drive(RestClient caller, long seconds) throws InterruptedException {
    AtomicLong requests = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
    pace.scheduleWithFixedDelay(() -> {
      try {
        String answer = caller.get().uri("/hello").retrieve().body(String.class);
        if (answer == null || !answer.startsWith("spring answers spiffe://")) {
          throw new IllegalStateException("unexpected answer: " + answer);
        }
        requests.incrementAndGet();
      } catch (RuntimeException e) {
        requests.incrementAndGet();
        failed.incrementAndGet();
        DemoEvents.emit("request_failed", "via=\"spring RestClient\"", "error=\"" + LineClient.rootMessage(e) + "\"");
      }
    }, 0, 50, TimeUnit.MILLISECONDS);
    pace.scheduleAtFixedRate(() -> DemoEvents.emit("stats", "requests=" + requests.get(),
        "failed=" + failed.get()), 1, 1, TimeUnit.SECONDS);
    if (pace.awaitTermination(seconds, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the traffic scheduler stopped early");
    }
    pace.shutdown();
    if (!pace.awaitTermination(30, TimeUnit.SECONDS)) {
      pace.shutdownNow();
    }
    DemoEvents.emit("traffic_done", "requests=" + requests.get(), "failed=" + failed.get());
  }

  /** The sample's certificate events, printed for the demo (renewals, trust changes). */
  @Bean
  ManagerListener demoEvents() {
    return new SampleSupport.EventListener();
  }

  /** The client for the web service, built once; it presents the current certificate on each new connection. */
  @Bean
  RestClient webService(RestClient.Builder builder, RestClientSsl ssl) {
    String[] web = SampleSupport.address("WEB_ADDRESS");
    return builder.baseUrl("https://" + web[0] + ":" + web[1]).apply(ssl.fromBundle("kube-mtls")).build();
  }

  @RestController
  static class Hello {
    private final RestClient webService;

    Hello(RestClient webService) {
      this.webService = webService;
    }

    @GetMapping("/hello")
    String hello(Principal caller) {
      String web = webService.get().uri("/hello").retrieve().body(String.class);
      return "spring answers " + caller.getName() + " after the web service said: " + web;
    }
  }
}
