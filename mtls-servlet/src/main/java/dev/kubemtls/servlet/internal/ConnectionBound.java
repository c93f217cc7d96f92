package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.internal.Issuers;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.io.ssl.SslConnection;
import org.eclipse.jetty.io.ssl.SslHandshakeListener;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.component.AbstractLifeCycle;
import org.eclipse.jetty.util.thread.Scheduler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds each TLS connection of one Jetty connector by the material it was made with: its end is
 * due at the earliest of the maximum age after the handshake, the client certificate's
 * {@code notAfter}, and a new snapshot of the source whose bundle lacks the CA that issued the
 * client's chain. An ended connection closes gracefully: a request that starts on it is served
 * and answered with {@code Connection: close}, so the client does not reuse it; a connection that
 * sees no new request within a short grace ({@link #GRACE}, 1 second, after its end or after its
 * in-flight requests finish) is closed with a TLS close_notify. The grace keeps a client that is
 * about to reuse a kept-alive connection from racing its close. A bean of the connector (connection and handshake listener) and a
 * customizer of its HTTP configuration; it follows the source while the connector runs.
 */
public final class ConnectionBound extends AbstractLifeCycle
    implements Connection.Listener, SslHandshakeListener, HttpConfiguration.Customizer {

  private static final Logger LOG = LoggerFactory.getLogger(ConnectionBound.class);

  /** How long an ended, idle connection is left for a request (answered with Connection: close) before it is closed. */
  public static final Duration GRACE = Duration.ofSeconds(1);

  private final MaterialSource source;
  private final Duration maxAge;
  private final InstantSource clock;
  private final Scheduler scheduler;
  private final Map<SSLEngine, Tracked> connections = new ConcurrentHashMap<>();
  private volatile MaterialSource.Subscription subscription;

  /** One TLS connection: its decrypted endpoint (closing it sends close_notify), the top of the client's chain, requests in flight, whether it is due. */
  private static final class Tracked {
    final EndPoint endPoint;
    volatile X509Certificate top;
    volatile Scheduler.Task task;
    final AtomicInteger inFlight = new AtomicInteger();
    final java.util.concurrent.atomic.AtomicLong requests = new java.util.concurrent.atomic.AtomicLong();
    final AtomicBoolean due = new AtomicBoolean();

    Tracked(EndPoint endPoint) {
      this.endPoint = endPoint;
    }
  }

  public ConnectionBound(MaterialSource source, Duration maxAge, InstantSource clock, Scheduler scheduler) {
    this.source = source;
    this.maxAge = maxAge;
    this.clock = clock;
    this.scheduler = scheduler;
  }

  @Override
  protected void doStart() {
    subscription = source.subscribe(this::onMaterial);
  }

  @Override
  protected void doStop() {
    MaterialSource.Subscription s = subscription;
    if (s != null) {
      s.close();
    }
  }

  @Override
  public void onOpened(Connection connection) {
    if (connection instanceof SslConnection ssl) {
      connections.put(ssl.getSSLEngine(), new Tracked(ssl.getSslEndPoint()));
    }
  }

  @Override
  public void onClosed(Connection connection) {
    if (connection instanceof SslConnection ssl) {
      Tracked t = connections.remove(ssl.getSSLEngine());
      if (t != null && t.task != null) {
        t.task.cancel();
      }
    }
  }

  @Override
  public void handshakeSucceeded(Event event) {
    Tracked t = connections.get(event.getSSLEngine());
    if (t == null || t.task != null) {
      return;  // a renegotiation (TLS 1.2) keeps the first bound
    }
    Instant now = clock.instant();
    Instant closeAt = now.plus(maxAge);
    String why = "maximum connection age " + maxAge;
    try {
      Certificate[] chain = event.getSSLEngine().getSession().getPeerCertificates();
      if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
        Instant notAfter = leaf.getNotAfter().toInstant();
        if (notAfter.isBefore(closeAt)) {
          closeAt = notAfter;
          why = "the client's certificate expires (notAfter " + notAfter + ")";
        }
        if (chain[chain.length - 1] instanceof X509Certificate top) {
          t.top = top;
        }
      }
    } catch (SSLPeerUnverifiedException noClientCertificate) {
      // optional client auth without a certificate: only the maximum age applies
    }
    String reason = why;
    t.task = scheduler.schedule(() -> due(t, reason),
        Math.max(0, Duration.between(now, closeAt).toMillis()), TimeUnit.MILLISECONDS);
  }

  private void onMaterial(MtlsMaterial material) {
    for (Tracked t : connections.values()) {
      X509Certificate top = t.top;
      if (top != null && !issuedByAny(top, material)) {
        due(t, "the CA that issued the client's certificate left the trust bundle "
            + material.trust().sourceVersion());
      }
    }
  }

  private void due(Tracked t, String reason) {
    if (t.due.compareAndSet(false, true)) {
      LOG.info("ending connection {}: {}", t.endPoint.getRemoteSocketAddress(), reason);
      closeIfQuiet(t, t.requests.get());
    }
  }

  /**
   * After the grace: closes the connection if no request started on it since {@code seen} and none
   * is in flight; waits again while requests from before its end are in flight; leaves it to Jetty
   * once a request was answered with {@code Connection: close}.
   */
  private void closeIfQuiet(Tracked t, long seen) {
    scheduler.schedule(() -> {
      if (t.requests.get() != seen || !t.endPoint.isOpen()) {
        return;
      }
      if (t.inFlight.get() > 0) {
        closeIfQuiet(t, seen);
      } else {
        t.endPoint.close();
      }
    }, GRACE.toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public Request customize(Request request, HttpFields.Mutable responseHeaders) {
    Tracked t = tracked(request);
    if (t == null) {
      return request;
    }
    t.inFlight.incrementAndGet();
    t.requests.incrementAndGet();
    if (t.due.get()) {
      responseHeaders.put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
    }
    Request.addCompletionListener(request, failure -> t.inFlight.decrementAndGet());
    return request;
  }

  private Tracked tracked(Request request) {
    EndPoint ep = request.getConnectionMetaData().getConnection().getEndPoint();
    if (ep instanceof SslConnection.SslEndPoint ssl) {
      return connections.get(ssl.getSslConnection().getSSLEngine());
    }
    return null;
  }

  /** The number of TLS connections being followed (for tests). */
  public int openConnections() {
    return connections.size();
  }

  /** Whether {@code top} is one of, or signed by one of, the CAs of {@code material}'s bundle. */
  static boolean issuedByAny(X509Certificate top, MtlsMaterial material) {
    return Issuers.issuedByAny(top, material.trust().certificates());
  }
}
