package dev.kubemtls.netty;

import dev.kubemtls.core.internal.Issuers;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.internal.WeakSubscription;
import dev.kubemtls.netty.internal.Http1Drain;
import dev.kubemtls.netty.internal.Http2Drain;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.concurrent.ScheduledFuture;
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
 * retired. {@link ServerTls} and {@link ClientTls} put one in every pipeline they set up, by default
 * (see {@link NettyTls.Builder#maxConnectionAge}); on its own it goes in a pipeline after the TLS
 * handler (Reactor Netty's {@code doOnChannelInit}, say). A connection is <em>due</em> at the
 * earliest of (counted from the handshake, or from when the handler is added to a channel whose
 * handshake is done):
 * <ul>
 *   <li>the maximum connection age after the handshake (default 30 minutes, as gRPC's servers here;
 *       {@link Builder#maxAge(Duration)});</li>
 *   <li>the {@code notAfter} of the peer's certificate, less the {@linkplain Builder#grace grace},
 *       so that the connection is closed by {@code notAfter} at the latest;</li>
 *   <li>a new snapshot of the source whose trust bundle no longer holds the CA that issued the peer's
 *       chain (a CA rotation that retired it).</li>
 * </ul>
 * A due connection is ended as gracefully as its protocol allows, so that no exchange in flight
 * fails, and closed with a TLS close_notify:
 * <ul>
 *   <li><b>HTTP/2</b> (an {@code Http2ConnectionHandler} in the pipeline, Netty's frame codec
 *       included): a GOAWAY with the highest stream id at once, so the peer opens no more streams;
 *       a second GOAWAY with the last stream opened one {@linkplain #QUIET_PERIOD quiet period}
 *       later; closed once no stream is open (checked every quiet period).</li>
 *   <li><b>HTTP/1.x</b> (Netty's server or client codec in the pipeline): the next response (on a
 *       server) or request (on a client) carries {@code Connection: close}, and the connection is
 *       closed once that exchange has ended; a server's connection with no exchange in flight is
 *       closed once it has been quiet (nothing read, nothing written, nothing waiting to be sent)
 *       for a quiet period, a client's unused one at the grace's end (its application may be about
 *       to write on it).</li>
 *   <li><b>Anything else</b> (a protocol this handler cannot read): closed once it has been quiet for
 *       a quiet period, which a request/response protocol whose client waits for each answer sees
 *       as the gap between exchanges.</li>
 * </ul>
 * Whatever happens, a due connection is closed (close_notify) at the latest {@linkplain Builder#grace
 * the grace} (default {@link #DEFAULT_GRACE}, 30 seconds) after it became due; an exchange still
 * in flight then fails. The HTTP support needs {@code netty-codec-http} and {@code netty-codec-http2}
 * on the class path (optional dependencies); without them every protocol is treated as opaque.
 * gRPC (mtls-grpc) bounds its connections with its own maximum connection age and does not use this
 * handler.
 *
 * <p>A peer that reconnects gets a handshake with the current material. One instance serves every
 * channel of a server or client ({@link ChannelHandler.Sharable}: in each pipeline it puts a handler
 * of that connection's own in its place); {@link #close()} stops following the source, which holds
 * the bound weakly, so a forgotten one stops following it once unreachable. Certificate expiry is
 * read from the injected clock; closes are scheduled on each channel's event loop.
 */
@ChannelHandler.Sharable
public final class ConnectionLifetime extends ChannelInboundHandlerAdapter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ConnectionLifetime.class);

  /** The default maximum age, as the gRPC integration's servers. */
  public static final Duration DEFAULT_MAX_AGE = Duration.ofMinutes(30);

  /**
   * How long a due connection must be quiet before it is closed, and how long after its first
   * HTTP/2 GOAWAY the second is sent: 1 second, as mtls-servlet's Jetty connections.
   */
  public static final Duration QUIET_PERIOD = Duration.ofSeconds(1);

  /** The default longest wait for a due connection to end gracefully before it is closed anyway. */
  public static final Duration DEFAULT_GRACE = Duration.ofSeconds(30);

  private static final boolean HTTP1 = present("io.netty.handler.codec.http.HttpServerCodec");
  private static final boolean HTTP2 = present("io.netty.handler.codec.http2.Http2ConnectionHandler");

  private final Duration maxAge;
  private final Duration grace;
  private final InstantSource clock;
  /** Connections whose handshake completed and that are not due yet. */
  private final Map<Channel, Watch> open = new ConcurrentHashMap<>();
  private final MaterialSource.Subscription subscription;

  private ConnectionLifetime(Builder b) {
    this.maxAge = b.maxAge;
    this.grace = b.grace;
    this.clock = b.clock;
    this.subscription = WeakSubscription.subscribe(b.source, this, ConnectionLifetime::onMaterial);
    // Unreachable (its handle dropped and its connections closed) without close(): stop following.
    MaterialSource.Subscription s = subscription;
    WeakSubscription.CLEANER.register(this, s::close);
  }

  private static boolean present(String className) {
    try {
      Class.forName(className, false, ConnectionLifetime.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError absent) {
      return false;
    }
  }

  /** A lifetime bound for the connections of a server or client that uses {@code source}. */
  public static Builder builder(MaterialSource source) {
    return new Builder(source);
  }

  /**
   * Puts this connection's own handler in this one's place; it bounds the connection from the
   * handshake, or at once when the handshake is already done (Reactor Netty's
   * {@code doOnConnection}, say).
   */
  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    ctx.pipeline().replace(this, ctx.name(), new Watch());
  }

  private void onMaterial(MtlsMaterial material) {
    for (Watch w : open.values()) {
      if (w.top != null && !issuedByAny(w.top, material)) {
        String reason = "the CA that issued the peer's certificate left the trust bundle "
            + material.trust().sourceVersion();
        w.ctx.executor().execute(() -> w.due(reason));
      }
    }
  }

  /** Whether {@code top} is one of, or signed by one of, the CAs of {@code material}'s bundle. */
  static boolean issuedByAny(X509Certificate top, MtlsMaterial material) {
    return Issuers.issuedByAny(top, material.trust().certificates());
  }

  /** The number of open connections being followed that are not due yet (for tests and diagnostics). */
  public int openConnections() {
    return open.size();
  }

  /** Stops following the source; scheduled ends still happen. */
  @Override
  public void close() {
    subscription.close();
  }

  /** One connection's bound; all its state is touched on the channel's event loop only. */
  private final class Watch extends ChannelDuplexHandler {
    private ChannelHandlerContext ctx;
    /** The certificate at the top of the peer's chain; null without one. */
    volatile X509Certificate top;
    private boolean started;
    private boolean due;
    /** Something was read or written since the last quiet check. */
    private boolean active;
    private ScheduledFuture<?> dueTask;
    private ScheduledFuture<?> checkTask;
    private ScheduledFuture<?> deadlineTask;
    /** Ended with GOAWAY: closed once no stream is open. */
    private boolean h2;
    /** The HTTP/1.x exchange counter after the codec, when there is one. */
    private Object http1;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
      SslHandler ssl = ctx.pipeline().get(SslHandler.class);
      if (ssl != null && ssl.handshakeFuture().isDone() && ssl.handshakeFuture().isSuccess()) {
        start();
      }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      stop();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
      if (evt instanceof SslHandshakeCompletionEvent e && e.isSuccess()) {
        start();
      }
      super.userEventTriggered(ctx, evt);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      active = true;
      ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
      active = true;
      ctx.write(msg, promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      stop();
      super.channelInactive(ctx);
    }

    private void stop() {
      open.remove(ctx.channel(), this);
      for (ScheduledFuture<?> f : new ScheduledFuture<?>[] {dueTask, checkTask, deadlineTask}) {
        if (f != null) {
          f.cancel(false);
        }
      }
    }

    private void start() {
      if (started || !ctx.channel().isActive()) {
        return;
      }
      started = true;
      Instant now = clock.instant();
      Instant dueAt = now.plus(maxAge);
      String why = "maximum connection age " + maxAge;
      SslHandler ssl = ctx.pipeline().get(SslHandler.class);
      if (ssl != null) {
        try {
          Certificate[] chain = ssl.engine().getSession().getPeerCertificates();
          if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
            Instant notAfter = leaf.getNotAfter().toInstant();
            if (notAfter.minus(grace).isBefore(dueAt)) {
              dueAt = notAfter.minus(grace);
              why = "the peer's certificate expires (notAfter " + notAfter + ")";
            }
            if (chain[chain.length - 1] instanceof X509Certificate last) {
              top = last;
            }
          }
        } catch (SSLPeerUnverifiedException noPeerCertificate) {
          // A client without a certificate (optional client auth): only the maximum age applies.
        }
      }
      if (HTTP1) {
        http1 = Http1Drain.install(ctx.pipeline(), this::closeNow);
      }
      open.put(ctx.channel(), this);
      long delay = Math.max(0, Duration.between(now, dueAt).toMillis());
      String reason = why;
      dueTask = ctx.executor().schedule(() -> due(reason), delay, TimeUnit.MILLISECONDS);
    }

    /** Ends the connection gracefully from now on, and at the latest after the grace. */
    void due(String reason) {
      if (due || !ctx.channel().isActive()) {
        return;
      }
      due = true;
      open.remove(ctx.channel(), this);
      if (dueTask != null) {
        dueTask.cancel(false);
      }
      ChannelPipeline p = ctx.pipeline();
      deadlineTask = ctx.executor().schedule(() -> {
        if (ctx.channel().isActive()) {
          LOG.info("closing connection {} that did not end within {} of being due", ctx.channel(), grace);
          closeNow();
        }
      }, grace.toMillis(), TimeUnit.MILLISECONDS);
      if (HTTP2 && Http2Drain.announce(p)) {
        LOG.info("ending HTTP/2 connection {} (GOAWAY): {}", ctx.channel(), reason);
        h2 = true;
        checkTask = ctx.executor().schedule(() -> {
          Http2Drain.finish(p);
          closeIfQuiet();
        }, QUIET_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
        return;
      }
      if (HTTP1) {
        Http1Drain drain = Http1Drain.install(p, this::closeNow);
        http1 = drain;
        if (drain != null) {
          LOG.info("ending HTTP/1.1 connection {} (Connection: close): {}", ctx.channel(), reason);
          drain.drain();
        }
      }
      if (http1 == null) {
        LOG.info("closing connection {} once it is quiet: {}", ctx.channel(), reason);
      }
      active = false;
      checkTask = ctx.executor().schedule(this::closeIfQuiet, QUIET_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void closeIfQuiet() {
      if (!ctx.channel().isActive()) {
        return;
      }
      ChannelOutboundBuffer pending = ctx.channel().unsafe().outboundBuffer();
      boolean sent = pending == null || pending.totalPendingWriteBytes() == 0;
      // HTTP/2 peers send PINGs and SETTINGS on their own: open streams tell whether it is in use.
      // An HTTP/1.1 client is not closed for being quiet: its application may be writing a request
      // on it right now (a pool handing it out); its next request says Connection: close instead,
      // and an unused one is closed at the grace's end.
      boolean quiet = h2 ? sent && !Http2Drain.busy(ctx.pipeline())
          : !active && sent && (http1 == null || (((Http1Drain) http1).server() && !((Http1Drain) http1).busy()));
      if (quiet) {
        closeNow();
        return;
      }
      active = false;
      checkTask = ctx.executor().schedule(this::closeIfQuiet, QUIET_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Closes below the application's handlers: the TLS handler sends close_notify. */
    private void closeNow() {
      if (ctx.channel().isActive()) {
        ctx.close();
      }
    }
  }

  /** Options of a {@link ConnectionLifetime}. */
  public static final class Builder {
    private final MaterialSource source;
    private Duration maxAge = DEFAULT_MAX_AGE;
    private Duration grace = DEFAULT_GRACE;
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

    /**
     * The longest a due connection is given to end gracefully before it is closed anyway, an
     * exchange in flight then failing ({@link #DEFAULT_GRACE} by default); also how long before the
     * peer certificate's {@code notAfter} it becomes due. Positive.
     */
    public Builder grace(Duration grace) {
      Objects.requireNonNull(grace, "grace");
      if (grace.isNegative() || grace.isZero()) {
        throw new IllegalArgumentException("grace must be positive, was " + grace);
      }
      this.grace = grace;
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
