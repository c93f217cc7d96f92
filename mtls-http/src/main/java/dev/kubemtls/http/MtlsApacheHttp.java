package dev.kubemtls.http;

import dev.kubemtls.core.tls.MtlsJdkTls;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLSession;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClientBuilder;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManager;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.client5.http.protocol.HttpClientContext;
import org.apache.hc.client5.http.ssl.DefaultClientTlsStrategy;
import org.apache.hc.core5.http.impl.DefaultConnectionReuseStrategy;
import org.apache.hc.core5.util.TimeValue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Apache HttpClient 5 (classic) client that follows a {@link MtlsJdkTls} client: a pooling
 * connection manager whose TLS comes from the following context, so each new connection presents the
 * current certificate and checks the server against the trust bundle, the dialled name and the peer
 * policy.
 *
 * <p>Connection state is disabled ({@code disableConnectionState()}): the client certificate is the
 * workload's, so every pooled connection serves every request.
 *
 * <p><b>Retiring pooled connections.</b> The client's connection reuse strategy is asked at the end of
 * every exchange whether to keep the connection: it says no when the connection must be retired
 * ({@link MtlsJdkTls#retirementReason}: its server's CA left the bundle, the server certificate it saw
 * expired, or, if asked, our certificate was renewed), so a busy connection is closed when its current
 * exchange ends. Checks at once after each new snapshot and every {@code checkEvery} close the pool's
 * idle connections ({@code closeIdle(0)}, which closes every idle connection, current ones included)
 * when a connection seen since the last check must be retired. So an idle connection goes within
 * {@code checkEvery} (at once on a trust change), a busy one when its exchange ends.
 */
public final class MtlsApacheHttp implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(MtlsApacheHttp.class);

  private final MtlsJdkTls tls;
  private final PoolingHttpClientConnectionManager connections;
  private final CloseableHttpClient client;
  private final Map<SSLSession, Boolean> seen = Collections.synchronizedMap(new WeakHashMap<>());
  private final AtomicLong notReused = new AtomicLong();
  private final AtomicLong idleClosures = new AtomicLong();
  private final RetirementLoop loop;

  private MtlsApacheHttp(MtlsJdkTls tls, UnaryOperator<HttpClientBuilder> customizer, Duration checkEvery) {
    this.tls = Objects.requireNonNull(tls, "tls");
    this.connections = connectionManager(tls);
    // The client certificate is the workload's, not a user's: without this HttpClient keys pooled
    // connections by the certificate's principal and, as each request starts without one, keeps
    // closing idle connections to open new ones.
    HttpClientBuilder b = HttpClients.custom().setConnectionManager(connections).disableConnectionState();
    b = customizer.apply(b);
    b.setConnectionReuseStrategy((request, response, context) -> {
      SSLSession session = HttpClientContext.castOrCreate(context).getSSLSession();
      if (session != null) {
        if (tls.mustRetire(session)) {
          notReused.incrementAndGet();
          return false;
        }
        seen.put(session, Boolean.TRUE);
      }
      return DefaultConnectionReuseStrategy.INSTANCE.keepAlive(request, response, context);
    });
    this.client = b.build();
    this.loop = new RetirementLoop(tls, checkEvery, "apache-http", this::check);
  }

  /** A pooling connection manager whose TLS follows {@code tls}, without retirement. */
  public static PoolingHttpClientConnectionManager connectionManager(MtlsJdkTls tls) {
    return PoolingHttpClientConnectionManagerBuilder.create()
        .setTlsSocketStrategy(new DefaultClientTlsStrategy(tls.sslContext()))
        .build();
  }

  /** A client with HttpClient's defaults, checked every 10 seconds. */
  public static MtlsApacheHttp create(MtlsJdkTls tls) {
    return create(tls, b -> b, Duration.ofSeconds(10));
  }

  /**
   * A client from {@code customizer} (given a builder with the connection manager set; it must not
   * replace it nor the reuse strategy), checked every {@code checkEvery}.
   */
  public static MtlsApacheHttp create(MtlsJdkTls tls, UnaryOperator<HttpClientBuilder> customizer,
      Duration checkEvery) {
    return new MtlsApacheHttp(tls, customizer, checkEvery);
  }

  public CloseableHttpClient client() {
    return client;
  }

  public PoolingHttpClientConnectionManager connectionManager() {
    return connections;
  }

  /** Connections not reused (closed after their exchange) because they had to be retired. */
  public long notReused() {
    return notReused.get();
  }

  /** How many times the idle connections were closed. */
  public long idleClosures() {
    return idleClosures.get();
  }

  /** Checks now; returns true if the idle connections were closed. */
  public synchronized boolean check() {
    List<SSLSession> sessions;
    synchronized (seen) {
      sessions = new ArrayList<>(seen.keySet());
    }
    for (SSLSession s : sessions) {
      var reason = tls.retirementReason(s);
      if (reason.isPresent()) {
        // every connection idle now closes; one leased now meets the reuse strategy when released
        seen.clear();
        connections.closeIdle(TimeValue.ZERO_MILLISECONDS);
        idleClosures.incrementAndGet();
        LOG.info("kube-mtls: closed Apache HttpClient's idle connections: a pooled connection must be"
            + " retired: {}", reason.get());
        return true;
      }
    }
    return false;
  }

  /** Stops checking and closes the client and its connections. */
  @Override
  public void close() throws IOException {
    loop.close();
    client.close();
  }
}
