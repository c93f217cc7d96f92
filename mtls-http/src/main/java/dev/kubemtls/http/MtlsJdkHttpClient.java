package dev.kubemtls.http;

import dev.kubemtls.core.tls.MtlsJdkTls;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@code java.net.http.HttpClient} that follows a {@link MtlsJdkTls} client: each new connection
 * presents the current certificate and checks the server against the trust bundle, the dialled name
 * and the peer policy.
 *
 * <p><b>Retiring pooled connections.</b> {@code java.net.http} has no API to list or close pooled
 * connections. So this holder records the TLS session of every response that passes through
 * {@link #send} or {@link #sendAsync}, and when one of them must be retired
 * ({@link MtlsJdkTls#retirementReason}: its server's CA left the bundle, the server certificate it saw
 * expired, or, if asked, our certificate was renewed) it <em>replaces the client</em>: later calls
 * get a new {@code HttpClient} and so new connections; requests in flight on the old client finish
 * there. The old client is shut down gracefully where the JDK can ({@code HttpClient.shutdown()},
 * Java 21 and later: in-flight exchanges complete, then its connections close); on Java 17 its idle
 * connections close after the JDK's keep-alive timeout ({@code jdk.httpclient.keepalive.timeout},
 * 1200 s unless set) or when the client is garbage-collected. Checks run at once after each new
 * snapshot and every {@code checkEvery}. Requests sent on {@link #client()} directly are not
 * observed, so only use {@code client()} for one-off calls.
 */
public final class MtlsJdkHttpClient implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(MtlsJdkHttpClient.class);

  private final MtlsJdkTls tls;
  private final Consumer<HttpClient.Builder> customizer;
  private final Map<SSLSession, Boolean> seen = Collections.synchronizedMap(new WeakHashMap<>());
  private final AtomicLong replacements = new AtomicLong();
  private final RetirementLoop loop;
  private volatile HttpClient client;

  private MtlsJdkHttpClient(MtlsJdkTls tls, Consumer<HttpClient.Builder> customizer, Duration checkEvery) {
    this.tls = Objects.requireNonNull(tls, "tls");
    this.customizer = Objects.requireNonNull(customizer, "customizer");
    this.client = newClient();
    this.loop = new RetirementLoop(tls, checkEvery, "jdk-http", this::check);
  }

  /** A client with the JDK's defaults, checked every 10 seconds. */
  public static MtlsJdkHttpClient create(MtlsJdkTls tls) {
    return create(tls, b -> { }, Duration.ofSeconds(10));
  }

  /**
   * A client built by {@code customizer} (called for every replacement, on a builder that already has
   * the TLS context and parameters; it must not replace them), checked every {@code checkEvery}.
   */
  public static MtlsJdkHttpClient create(MtlsJdkTls tls, Consumer<HttpClient.Builder> customizer,
      Duration checkEvery) {
    return new MtlsJdkHttpClient(tls, customizer, checkEvery);
  }

  /** A builder with the TLS context and parameters of {@code tls}, for those who manage clients themselves. */
  public static HttpClient.Builder builder(MtlsJdkTls tls) {
    return HttpClient.newBuilder().sslContext(tls.sslContext()).sslParameters(tls.sslParameters());
  }

  private HttpClient newClient() {
    HttpClient.Builder b = builder(tls);
    customizer.accept(b);
    return b.build();
  }

  /** The current client; replaced when its connections must be retired. */
  public HttpClient client() {
    return client;
  }

  /** Sends on the current client and records the response's TLS session. */
  public <T> HttpResponse<T> send(HttpRequest request, HttpResponse.BodyHandler<T> handler)
      throws IOException, InterruptedException {
    HttpClient c = client;
    return record(c, c.send(request, handler));
  }

  /** Sends asynchronously on the current client and records the response's TLS session. */
  public <T> CompletableFuture<HttpResponse<T>> sendAsync(HttpRequest request,
      HttpResponse.BodyHandler<T> handler) {
    HttpClient c = client;
    return c.sendAsync(request, handler).thenApply(r -> record(c, r));
  }

  private <T> HttpResponse<T> record(HttpClient sentOn, HttpResponse<T> response) {
    // a response of a replaced client says nothing about the current client's connections
    if (sentOn == client) {
      response.sslSession().ifPresent(s -> seen.put(s, Boolean.TRUE));
    }
    return response;
  }

  /** How many times the client was replaced. */
  public long replacements() {
    return replacements.get();
  }

  /** Checks now; returns true if the client was replaced. */
  public synchronized boolean check() {
    List<SSLSession> sessions;
    synchronized (seen) {
      sessions = new ArrayList<>(seen.keySet());
    }
    for (SSLSession s : sessions) {
      var reason = tls.retirementReason(s);
      if (reason.isPresent()) {
        HttpClient old = client;
        client = newClient();
        seen.clear();
        replacements.incrementAndGet();
        LOG.info("kube-mtls: replaced a java.net.http client: a pooled connection must be retired: {}",
            reason.get());
        shutdown(old);
        return true;
      }
    }
    return false;
  }

  private static void shutdown(HttpClient old) {
    try {
      Method m = HttpClient.class.getMethod("shutdown");
      m.invoke(old);
    } catch (NoSuchMethodException e) {
      // Java 17: the old client's connections close after the keep-alive timeout
    } catch (ReflectiveOperationException e) {
      LOG.debug("kube-mtls: could not shut down a replaced HttpClient: {}", e.toString());
    }
  }

  /** Stops checking and shuts the current client down where the JDK can. */
  @Override
  public void close() {
    loop.close();
    shutdown(client);
  }
}
