package dev.kubemtls.signer;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The signer's plain-HTTP endpoint for Prometheus and the kubelet: {@code GET /metrics} (the
 * registry in the Prometheus text format), {@code GET /livez} and {@code GET /readyz}.
 *
 * <ul>
 *   <li>{@code /livez}: 200 {@code ok} while the replica runs (leader or standby), 503 once it is
 *       closed.
 *   <li>{@code /readyz}: 200 {@code ok: leader} when the leader's CSR informer has synced and it
 *       holds a signing CA, 200 {@code ok: standby} on a standby (ready as a standby), otherwise
 *       503 with the reason ({@link Signer#notReady()}).
 * </ul>
 *
 * <p>{@code HEAD} is answered like {@code GET} without a body; other methods get 405, other paths
 * 404. The endpoint carries no secrets and no TLS: bind it to the Pod network for the kubelet and
 * the scraper, or to loopback. Two daemon threads serve it. Address syntax ({@code
 * --metrics-address}): {@code :9090} (every interface), {@code 127.0.0.1:9090}, {@code [::1]:9090};
 * port 0 picks a free port; {@code off} disables the endpoint.
 */
public final class SignerServer implements AutoCloseable {

  /** The flag that sets the address. */
  public static final String FLAG = "--metrics-address";
  /** Its environment variable. */
  public static final String ENVIRONMENT_VARIABLE = "KUBE_MTLS_METRICS_ADDRESS";
  /** The default address: port 9090 on every interface. */
  public static final String DEFAULT_ADDRESS = ":9090";

  private final HttpServer server;
  private final ExecutorService executor;

  private SignerServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Starts serving {@code /metrics} from {@code registry} and the probes of {@code signer}.
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static SignerServer start(InetSocketAddress address, Signer signer, PrometheusMeterRegistry registry) {
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(signer, "signer");
    Objects.requireNonNull(registry, "registry");
    HttpServer server;
    try {
      server = HttpServer.create(address, 16);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen on " + address + " (" + FLAG + ")", e);
    }
    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "kube-mtls-signer-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", exchange -> {
      try (exchange) {
        String path = exchange.getRequestURI().getPath();
        Optional<Response> response = switch (path) {
          case "/metrics" -> Optional.of(new Response(200, registry.scrape(), "text/plain; version=0.0.4; charset=utf-8"));
          case "/livez" -> Optional.of(signer.isClosed() ? Response.text(503, "closed") : Response.text(200, "ok"));
          case "/readyz" -> Optional.of(signer.notReady().map(why -> Response.text(503, "not ready: " + why))
              .orElseGet(() -> Response.text(200, signer.isLeader() ? "ok: leader" : "ok: standby")));
          default -> Optional.empty();
        };
        String method = exchange.getRequestMethod();
        if (response.isEmpty()) {
          send(exchange, Response.text(404, "not found; try /metrics, /livez or /readyz"), !method.equals("HEAD"));
        } else if (!method.equals("GET") && !method.equals("HEAD")) {
          exchange.getResponseHeaders().put("Allow", List.of("GET, HEAD"));
          send(exchange, Response.text(405, "method not allowed"), true);
        } else {
          send(exchange, response.get(), method.equals("GET"));
        }
      }
    });
    server.start();
    return new SignerServer(server, executor);
  }

  /**
   * Parses an address in the {@link #FLAG} syntax; empty for {@code off}.
   *
   * @throws IllegalArgumentException naming the flag, for anything else
   */
  public static Optional<InetSocketAddress> parseAddress(String text) {
    Objects.requireNonNull(text, FLAG);
    String t = text.trim();
    if (t.equals("off")) {
      return Optional.empty();
    }
    int colon = t.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException(FLAG + " '" + text + "' must be [host]:port or off, e.g. :9090");
    }
    String host = t.substring(0, colon);
    int port;
    try {
      port = Integer.parseInt(t.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(FLAG + " '" + text + "': the port is not a number", e);
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(FLAG + " '" + text + "': the port must be between 0 and 65535");
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return Optional.of(host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port));
  }

  /**
   * The address from {@code --metrics-address=...} (or {@code --metrics-address ...}) in
   * {@code args}, else {@link #ENVIRONMENT_VARIABLE}, else {@link #DEFAULT_ADDRESS}; the same
   * precedence as every other signer flag.
   */
  public static Optional<InetSocketAddress> address(List<String> args, Map<String, String> environment) {
    String value = null;
    String env = environment.get(ENVIRONMENT_VARIABLE);
    if (env != null && !env.isBlank()) {
      value = env;
    }
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (arg.startsWith(FLAG + "=")) {
        value = arg.substring(FLAG.length() + 1);
      } else if (arg.equals(FLAG) && i + 1 < args.size()) {
        value = args.get(++i);
      }
    }
    return parseAddress(value == null ? DEFAULT_ADDRESS : value);
  }

  /** The bound address (with the port picked, for port 0). */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  /** Stops serving; requests in flight get up to a second. */
  @Override
  public void close() {
    server.stop(1);
    executor.shutdown();
    try {
      executor.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void send(HttpExchange exchange, Response response, boolean withBody) throws IOException {
    byte[] body = response.body().getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().put("Content-Type", List.of(response.contentType()));
    exchange.getResponseHeaders().put("Cache-Control", List.of("no-store"));
    if (!withBody) {
      exchange.getResponseHeaders().put("Content-Length", List.of(Integer.toString(body.length)));
      exchange.sendResponseHeaders(response.status(), -1);
      return;
    }
    exchange.sendResponseHeaders(response.status(), body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  private record Response(int status, String body, String contentType) {
    static Response text(int status, String body) {
      return new Response(status, body + "\n", "text/plain; charset=utf-8");
    }
  }
}
