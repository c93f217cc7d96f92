package dev.kubemtls.http;

import dev.kubemtls.core.tls.MtlsJdkTls;
import java.net.Socket;
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
import javax.net.ssl.SSLSocket;
import okhttp3.Connection;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OkHttp 5 client that follows a {@link MtlsJdkTls} client: {@code sslSocketFactory} with the
 * following socket factory and trust manager, so each new connection presents the current
 * certificate and checks the server against the trust bundle, the dialled name and the peer policy.
 *
 * <p><b>Retiring pooled connections.</b> A network interceptor looks at the connection of every
 * request: if that connection must be retired ({@link MtlsJdkTls#retirementReason}: its server's CA
 * left the bundle, the server certificate it saw expired, or, if asked, our certificate was renewed),
 * the request is sent with {@code Connection: close}, so OkHttp takes no further exchange on it after
 * this one. Checks at once after each new snapshot and every {@code checkEvery} evict the pool's idle
 * connections ({@code ConnectionPool.evictAll()}, which closes every idle connection, current ones
 * included) while any connection that must be retired is still open. So an idle connection goes
 * within {@code checkEvery} (at once on a trust change) and a busy HTTP/1.1 connection after at most
 * one more request. An HTTP/2 connection cannot be marked that way; it goes when it is idle at a check.
 */
public final class MtlsOkHttp implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(MtlsOkHttp.class);

  private final MtlsJdkTls tls;
  private final OkHttpClient client;
  private final Map<Connection, SSLSession> connections = Collections.synchronizedMap(new WeakHashMap<>());
  private final AtomicLong marked = new AtomicLong();
  private final AtomicLong evictions = new AtomicLong();
  private final RetirementLoop loop;

  private MtlsOkHttp(MtlsJdkTls tls, UnaryOperator<OkHttpClient.Builder> customizer, Duration checkEvery) {
    this.tls = Objects.requireNonNull(tls, "tls");
    OkHttpClient.Builder b = customizer.apply(builder(tls));
    b.addNetworkInterceptor(chain -> {
      Request request = chain.request();
      Connection c = chain.connection();
      if (c != null && c.socket() instanceof SSLSocket ssl) {
        SSLSession session = ssl.getSession();
        connections.put(c, session);
        if (tls.mustRetire(session)) {
          marked.incrementAndGet();
          request = request.newBuilder().header("Connection", "close").build();
        }
      }
      return chain.proceed(request);
    });
    this.client = b.build();
    this.loop = new RetirementLoop(tls, checkEvery, "okhttp", this::check);
  }

  /** A builder whose TLS follows {@code tls}, without retirement. */
  public static OkHttpClient.Builder builder(MtlsJdkTls tls) {
    return new OkHttpClient.Builder().sslSocketFactory(tls.socketFactory(), tls.trustManager());
  }

  /** A client with OkHttp's defaults, checked every 10 seconds. */
  public static MtlsOkHttp create(MtlsJdkTls tls) {
    return create(tls, b -> b, Duration.ofSeconds(10));
  }

  /**
   * A client from {@code customizer} (given a builder with the TLS set; it must not replace the
   * socket factory), checked every {@code checkEvery}.
   */
  public static MtlsOkHttp create(MtlsJdkTls tls, UnaryOperator<OkHttpClient.Builder> customizer,
      Duration checkEvery) {
    return new MtlsOkHttp(tls, customizer, checkEvery);
  }

  public OkHttpClient client() {
    return client;
  }

  /** Requests sent with {@code Connection: close} because their connection had to be retired. */
  public long markedForClose() {
    return marked.get();
  }

  /** How many times the idle connections were evicted. */
  public long evictions() {
    return evictions.get();
  }

  /** Checks now; returns how many open connections must be retired. */
  public synchronized int check() {
    List<Map.Entry<Connection, SSLSession>> open = new ArrayList<>();
    synchronized (connections) {
      connections.entrySet().removeIf(e -> {
        Socket s = e.getKey().socket();
        return s == null || s.isClosed();
      });
      open.addAll(connections.entrySet());
    }
    int retiring = 0;
    String reason = null;
    for (Map.Entry<Connection, SSLSession> e : open) {
      var r = tls.retirementReason(e.getValue());
      if (r.isPresent()) {
        retiring++;
        reason = r.get();
      }
    }
    if (retiring > 0) {
      client.connectionPool().evictAll();
      evictions.incrementAndGet();
      LOG.info("kube-mtls: evicted OkHttp's idle connections; {} open connections must be retired: {}",
          retiring, reason);
    }
    return retiring;
  }

  /** Stops checking and closes the idle connections; the client stays usable. */
  @Override
  public void close() {
    loop.close();
    client.connectionPool().evictAll();
  }
}
