package dev.kubemtls.signer.internal;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The signer's plain-HTTP endpoint for Prometheus and the kubelet: {@code GET /metrics} (the
 * registry in the Prometheus text format), {@code GET /livez} and {@code GET /readyz}.
 *
 * <ul>
 *   <li>{@code /livez}: 200 {@code ok} while the replica runs (leader or standby), 503 once it is
 *       closed. It reads one volatile flag: it never waits for the signer's lock or an API call.
 *   <li>{@code /readyz}: 200 {@code ok: leader} when the leader's CSR informer has synced, it holds a
 *       signing CA and its workers make progress, 200 {@code ok: standby} on a standby (ready as a
 *       standby), otherwise 503 with the reason ({@link Signer#notReady()}).
 * </ul>
 *
 * <p>{@code HEAD} is answered like {@code GET} without a body; other methods get 405, other paths
 * 404. The endpoint carries no secrets and no TLS. It cannot be starved: one selector thread reads
 * every connection without blocking, a request head must arrive within 5 seconds and fit in 8 KiB,
 * at most 64 connections are open (a new one closes the oldest), and {@code /metrics} is computed on a
 * thread of its own, so clients holding half-sent requests or slow scrapes never delay a probe.
 *
 * <p>Address syntax ({@code --metrics-address}, {@code --probe-address}): {@code :9090} (every
 * interface), {@code 127.0.0.1:9090}, {@code [::1]:9090}; port 0 picks a free port; {@code off}
 * disables the endpoint. With {@code --probe-address} set, the probes are served there and only
 * {@code /metrics} on {@code --metrics-address}: the kubelet's port and the scraper's can then be
 * bound to different addresses and admitted by different NetworkPolicy rules.
 */
public final class SignerServer implements AutoCloseable {

  /** The flag that sets the address. */
  public static final String FLAG = "--metrics-address";
  /** Its environment variable. */
  public static final String ENVIRONMENT_VARIABLE = "KUBE_MTLS_METRICS_ADDRESS";
  /** The default address: port 9090 on every interface. */
  public static final String DEFAULT_ADDRESS = ":9090";
  /** The flag that serves the probes on an address of their own. */
  public static final String PROBE_FLAG = "--probe-address";
  /** Its environment variable. */
  public static final String PROBE_ENVIRONMENT_VARIABLE = "KUBE_MTLS_PROBE_ADDRESS";

  private final HttpEndpoint endpoint;

  private SignerServer(HttpEndpoint endpoint) {
    this.endpoint = endpoint;
  }

  /**
   * Starts serving {@code /metrics} from {@code registry} and the probes of {@code signer} on one
   * address.
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static SignerServer start(InetSocketAddress address, Signer signer, PrometheusMeterRegistry registry) {
    Objects.requireNonNull(signer, "signer");
    Objects.requireNonNull(registry, "registry");
    Map<String, HttpEndpoint.Route> routes = new LinkedHashMap<>(probeRoutes(signer::isClosed, signer::notReady,
        signer::isLeader));
    routes.put("/metrics", metricsRoute(registry::scrape));
    return start(address, routes, FLAG);
  }

  /**
   * Starts serving only {@code /livez} and {@code /readyz} of {@code signer} ({@link #PROBE_FLAG}).
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static SignerServer startProbes(InetSocketAddress address, Signer signer) {
    Objects.requireNonNull(signer, "signer");
    return start(address, probeRoutes(signer::isClosed, signer::notReady, signer::isLeader), PROBE_FLAG);
  }

  /**
   * Starts serving only {@code /metrics} from {@code registry}.
   *
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static SignerServer startMetrics(InetSocketAddress address, PrometheusMeterRegistry registry) {
    Objects.requireNonNull(registry, "registry");
    return start(address, Map.of("/metrics", metricsRoute(registry::scrape)), FLAG);
  }

  /** The server over plain functions, for tests of the endpoint itself. */
  static SignerServer start(InetSocketAddress address, BooleanSupplier closed, Supplier<Optional<String>> notReady,
      BooleanSupplier leader, Supplier<String> scrape) {
    Map<String, HttpEndpoint.Route> routes = new LinkedHashMap<>(probeRoutes(closed, notReady, leader));
    routes.put("/metrics", metricsRoute(scrape));
    return start(address, routes, FLAG);
  }

  private static SignerServer start(InetSocketAddress address, Map<String, HttpEndpoint.Route> routes, String flag) {
    Objects.requireNonNull(address, "address");
    try {
      return new SignerServer(HttpEndpoint.start(address, routes, "kube-mtls-signer-http"));
    } catch (UncheckedIOException e) {
      throw new UncheckedIOException("cannot listen on " + address + " (" + flag + ")", e.getCause());
    }
  }

  private static Map<String, HttpEndpoint.Route> probeRoutes(BooleanSupplier closed,
      Supplier<Optional<String>> notReady, BooleanSupplier leader) {
    return Map.of(
        "/livez", new HttpEndpoint.Route(() -> closed.getAsBoolean() ? HttpEndpoint.Response.text(503, "closed")
            : HttpEndpoint.Response.text(200, "ok"), false),
        "/readyz", new HttpEndpoint.Route(() -> notReady.get()
            .map(why -> HttpEndpoint.Response.text(503, "not ready: " + why))
            .orElseGet(() -> HttpEndpoint.Response.text(200, leader.getAsBoolean() ? "ok: leader" : "ok: standby")),
            false));
  }

  private static HttpEndpoint.Route metricsRoute(Supplier<String> scrape) {
    return new HttpEndpoint.Route(() -> new HttpEndpoint.Response(200, scrape.get(),
        "text/plain; version=0.0.4; charset=utf-8"), true);
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
    String value = flagValue(args, environment, FLAG, ENVIRONMENT_VARIABLE);
    return parseAddress(value == null ? DEFAULT_ADDRESS : value);
  }

  /**
   * The address from {@code --probe-address} in {@code args}, else {@link #PROBE_ENVIRONMENT_VARIABLE};
   * empty when neither is set (the probes are then served with {@code /metrics}).
   *
   * @throws IllegalArgumentException naming the flag, for a malformed address or {@code off}
   */
  public static Optional<InetSocketAddress> probeAddress(List<String> args, Map<String, String> environment) {
    String value = flagValue(args, environment, PROBE_FLAG, PROBE_ENVIRONMENT_VARIABLE);
    if (value == null) {
      return Optional.empty();
    }
    Optional<InetSocketAddress> parsed;
    try {
      parsed = parseAddress(value);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(e.getMessage().replace(FLAG, PROBE_FLAG), e);
    }
    if (parsed.isEmpty()) {
      throw new IllegalArgumentException(PROBE_FLAG + " cannot be off: the kubelet needs the probes; leave it"
          + " unset to serve them with /metrics");
    }
    return parsed;
  }

  private static String flagValue(List<String> args, Map<String, String> environment, String flag, String variable) {
    String value = null;
    String env = environment.get(variable);
    if (env != null && !env.isBlank()) {
      value = env;
    }
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      if (arg.startsWith(flag + "=")) {
        value = arg.substring(flag.length() + 1);
      } else if (arg.equals(flag) && i + 1 < args.size()) {
        value = args.get(++i);
      }
    }
    return value;
  }

  /** The bound address (with the port picked, for port 0). */
  public InetSocketAddress address() {
    return endpoint.address();
  }

  /** Stops serving and closes every connection. */
  @Override
  public void close() {
    endpoint.close();
  }
}
