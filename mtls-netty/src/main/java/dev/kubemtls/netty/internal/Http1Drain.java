package dev.kubemtls.netty.internal;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;

/**
 * The graceful end of an HTTP/1.x connection, for {@code ConnectionLifetime}: sits right after the
 * pipeline's HTTP codec, counts the exchanges in flight (requests received and not yet answered on a
 * server, requests sent and not yet answered on a client), and once {@link #drain() draining} marks
 * the next message with {@code Connection: close} and closes the connection after that exchange
 * ends: on a server when the marked response has been written, on a client when the response to the
 * marked request has been read. Loaded only when netty-codec-http is on the class path.
 */
public final class Http1Drain extends ChannelDuplexHandler {

  /** Its name in the pipeline. */
  public static final String NAME = "kube-mtls-http1-drain";

  private final boolean server;
  private final Runnable close;
  /** Exchanges in flight (counted from when this handler was added). */
  private int inFlight;
  private boolean draining;
  /** A message carried Connection: close; the connection closes when its exchange ends. */
  private boolean marked;
  /** Server: the response being written is a final one. Client: the response being read is 1xx. */
  private boolean finalResponse;
  private boolean informational;

  private Http1Drain(boolean server, Runnable close) {
    this.server = server;
    this.close = close;
  }

  /**
   * Adds a drain right after the pipeline's HTTP/1.x server or client codec, or returns the one
   * already there; null if the pipeline has no HTTP/1.x codec. {@code close} closes the connection
   * (with a TLS close_notify) and is called on the event loop.
   */
  public static Http1Drain install(ChannelPipeline p, Runnable close) {
    Http1Drain existing = p.get(Http1Drain.class);
    if (existing != null) {
      return existing;
    }
    ChannelHandlerContext codec = codec(p, HttpServerCodec.class, HttpResponseEncoder.class);
    boolean server = codec != null;
    if (codec == null) {
      codec = codec(p, HttpClientCodec.class, HttpRequestEncoder.class);
    }
    if (codec == null) {
      return null;
    }
    Http1Drain drain = new Http1Drain(server, close);
    p.addAfter(codec.name(), NAME, drain);
    return drain;
  }

  private static ChannelHandlerContext codec(ChannelPipeline p, Class<? extends ChannelHandler> codec,
      Class<? extends ChannelHandler> encoder) {
    ChannelHandlerContext ctx = p.context(codec);
    return ctx != null ? ctx : p.context(encoder);
  }

  /** Whether this is a server's connection (a client's otherwise). */
  public boolean server() {
    return server;
  }

  /** Whether an exchange is in flight. */
  public boolean busy() {
    return inFlight > 0;
  }

  /** From now on the next request (client) or response (server) says Connection: close. */
  public void drain() {
    draining = true;
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (server) {
      if (msg instanceof HttpRequest) {
        inFlight++;
      }
      ctx.fireChannelRead(msg);
      return;
    }
    if (msg instanceof HttpResponse r) {
      informational = r.status().codeClass() == HttpStatusClass.INFORMATIONAL && r.status().code() != 101;
    }
    boolean ended = msg instanceof LastHttpContent && !informational;
    if (msg instanceof LastHttpContent) {
      informational = false;
    }
    ctx.fireChannelRead(msg);
    if (ended) {
      inFlight = Math.max(0, inFlight - 1);
      if (marked && inFlight == 0) {
        close.run();
      }
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (!server) {
      if (msg instanceof HttpRequest request) {
        inFlight++;
        if (draining) {
          marked |= closing(request);
        }
      }
      ctx.write(msg, promise);
      return;
    }
    if (msg instanceof HttpResponse response) {
      finalResponse = response.status().codeClass() != HttpStatusClass.INFORMATIONAL;
      if (finalResponse && draining) {
        marked |= closing(response);
      }
    }
    if (msg instanceof LastHttpContent && finalResponse) {
      finalResponse = false;
      inFlight = Math.max(0, inFlight - 1);
      if (marked) {
        ChannelPromise p = promise.unvoid();
        p.addListener(f -> close.run());
        ctx.write(msg, p);
        return;
      }
    }
    ctx.write(msg, promise);
  }

  /** Adds Connection: close; false if the message's headers cannot be changed. */
  private static boolean closing(HttpMessage message) {
    try {
      HttpUtil.setKeepAlive(message, false);
      return true;
    } catch (UnsupportedOperationException readOnlyHeaders) {
      return false;
    }
  }
}
