package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.security.GeneralSecurityException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds how long a connection outlives the material it was made with. A TLS connection keeps the
 * certificates of its handshake for as long as it stays open, so without a bound a pooled
 * connection keeps presenting (and accepting) a certificate long after it expired or its CA was
 * retired. {@link ServerTls} and {@link ClientTls} put one in every pipeline they set up when
 * built with {@code maxConnectionAge(..)}; on its own, added to a pipeline after a TLS handler
 * (Reactor Netty's {@code doOnConnection}, say), this handler closes the connection, with a TLS close_notify, at the earliest of (counted from the
 * handshake, or from when it is added to a channel whose handshake is done):
 * <ul>
 *   <li>the maximum connection age after the handshake (default 30 minutes, as gRPC's servers here;
 *       {@link Builder#maxAge(Duration)});</li>
 *   <li>the {@code notAfter} of the peer's certificate;</li>
 *   <li>a new snapshot of the source whose trust bundle no longer holds the CA that issued the peer's
 *       chain (a CA rotation that retired it).</li>
 * </ul>
 * A peer that reconnects gets a handshake with the current material. One instance serves every
 * channel of a server or client ({@link ChannelHandler.Sharable}); {@link #close()} stops following
 * the source. Times are read from the injected clock; closes are scheduled on each channel's event
 * loop.
 */
@ChannelHandler.Sharable
public final class ConnectionLifetime extends ChannelInboundHandlerAdapter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ConnectionLifetime.class);

  /** The default maximum age, as the gRPC integration's servers. */
  public static final Duration DEFAULT_MAX_AGE = Duration.ofMinutes(30);

  private final Duration maxAge;
  private final InstantSource clock;
  /** Open connections whose handshake completed, by the certificate at the top of the peer's chain. */
  private final Map<Channel, X509Certificate> open = new ConcurrentHashMap<>();
  /** The scheduled close of each open connection, cancelled when it closes earlier. */
  private final Map<Channel, io.netty.util.concurrent.Future<?>> scheduled = new ConcurrentHashMap<>();
  private final MaterialSource.Subscription subscription;

  private ConnectionLifetime(Builder b) {
    this.maxAge = b.maxAge;
    this.clock = b.clock;
    this.subscription = b.source.subscribe(this::onMaterial);
  }

  /** A lifetime bound for the connections of a server or client that uses {@code source}. */
  public static Builder builder(MaterialSource source) {
    return new Builder(source);
  }

  /**
   * Added to a channel whose handshake is already done (Reactor Netty's {@code doOnConnection}, say),
   * the bound starts at once; otherwise at the handshake.
   */
  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    SslHandler ssl = ctx.pipeline().get(SslHandler.class);
    if (ssl != null && ssl.handshakeFuture().isDone() && ssl.handshakeFuture().isSuccess()
        && !scheduled.containsKey(ctx.channel())) {
      bound(ctx.channel());
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof SslHandshakeCompletionEvent e && e.isSuccess() && !scheduled.containsKey(ctx.channel())) {
      bound(ctx.channel());
    }
    super.userEventTriggered(ctx, evt);
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    open.remove(ctx.channel());
    io.netty.util.concurrent.Future<?> close = scheduled.remove(ctx.channel());
    if (close != null) {
      close.cancel(false);
    }
    super.channelInactive(ctx);
  }

  private void bound(Channel channel) {
    Instant now = clock.instant();
    Instant closeAt = now.plus(maxAge);
    String why = "maximum connection age " + maxAge;
    SslHandler ssl = channel.pipeline().get(SslHandler.class);
    if (ssl != null) {
      try {
        Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
        if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
          Instant notAfter = leaf.getNotAfter().toInstant();
          if (notAfter.isBefore(closeAt)) {
            closeAt = notAfter;
            why = "the peer's certificate expires (notAfter " + notAfter + ")";
          }
          open.put(channel, (X509Certificate) chain[chain.length - 1]);
        }
      } catch (SSLPeerUnverifiedException noPeerCertificate) {
        // A client without a certificate (optional client auth): only the maximum age applies.
      }
    }
    long delay = Math.max(0, Duration.between(now, closeAt).toMillis());
    String reason = why;
    scheduled.put(channel, channel.eventLoop().schedule(() -> closeFor(channel, reason), delay, TimeUnit.MILLISECONDS));
  }

  private void onMaterial(MtlsMaterial material) {
    for (Map.Entry<Channel, X509Certificate> e : open.entrySet()) {
      if (!issuedByAny(e.getValue(), material)) {
        closeFor(e.getKey(), "the CA that issued the peer's certificate left the trust bundle "
            + material.trust().sourceVersion());
      }
    }
  }

  /** Whether {@code top} (the last certificate the peer sent) is one of, or signed by one of, the trusted CAs. */
  private static boolean issuedByAny(X509Certificate top, MtlsMaterial material) {
    for (X509Certificate ca : material.trust().certificates()) {
      if (ca.equals(top)) {
        return true;
      }
      if (ca.getSubjectX500Principal().equals(top.getIssuerX500Principal())) {
        try {
          top.verify(ca.getPublicKey());
          return true;
        } catch (GeneralSecurityException notThisOne) {
          // same name, another key: keep looking
        }
      }
    }
    return false;
  }

  private void closeFor(Channel channel, String reason) {
    open.remove(channel);
    scheduled.remove(channel);
    if (channel.isActive()) {
      LOG.info("closing connection {}: {}", channel.remoteAddress(), reason);
      channel.close();
    }
  }

  /** The number of open connections being followed (for tests and diagnostics). */
  public int openConnections() {
    return open.size();
  }

  /** Stops following the source; scheduled closes still happen. */
  @Override
  public void close() {
    subscription.close();
  }

  /** Options of a {@link ConnectionLifetime}. */
  public static final class Builder {
    private final MaterialSource source;
    private Duration maxAge = DEFAULT_MAX_AGE;
    private InstantSource clock = InstantSource.system();

    private Builder(MaterialSource source) {
      this.source = Objects.requireNonNull(source, "source");
    }

    /** The longest a connection stays open, whatever its certificates; positive. */
    public Builder maxAge(Duration maxAge) {
      Objects.requireNonNull(maxAge, "maxAge");
      if (maxAge.isNegative() || maxAge.isZero()) {
        throw new IllegalArgumentException("maxAge must be positive, was " + maxAge);
      }
      this.maxAge = maxAge;
      return this;
    }

    /** The clock certificate expiry is read with; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Subscribes to the source; close the result to stop. */
    public ConnectionLifetime build() {
      return new ConnectionLifetime(this);
    }
  }
}
