package dev.kubemtls.netty.internal;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2Error;

/**
 * The graceful end of an HTTP/2 connection, for {@code ConnectionLifetime}, in two GOAWAY frames as
 * gRPC's servers do: the first ({@link #announce}) carries the highest stream id, so the peer stops
 * opening streams and nothing it sent meanwhile is refused; the second ({@link #finish}), a moment
 * later, carries the last stream actually opened; the connection is closed once its open streams
 * have ended. Works with any {@link Http2ConnectionHandler} (Netty's
 * frame codec included). Loaded only when netty-codec-http2 is on the class path.
 */
public final class Http2Drain {

  private Http2Drain() {}

  /** Whether the pipeline carries an HTTP/2 connection handler. */
  public static boolean present(ChannelPipeline p) {
    return p.context(Http2ConnectionHandler.class) != null;
  }

  /** Sends the first GOAWAY (last stream id 2^31-1, NO_ERROR); false if there is no HTTP/2 handler. */
  public static boolean announce(ChannelPipeline p) {
    ChannelHandlerContext ctx = p.context(Http2ConnectionHandler.class);
    if (ctx == null) {
      return false;
    }
    Http2ConnectionHandler h2 = (Http2ConnectionHandler) ctx.handler();
    if (!h2.connection().goAwaySent()) {
      h2.goAway(ctx, Integer.MAX_VALUE, Http2Error.NO_ERROR.code(), Unpooled.EMPTY_BUFFER, ctx.newPromise());
      ctx.flush();
    }
    return true;
  }

  /** Sends the second GOAWAY (the last stream the peer opened). */
  public static void finish(ChannelPipeline p) {
    ChannelHandlerContext ctx = p.context(Http2ConnectionHandler.class);
    if (ctx == null) {
      return;
    }
    Http2ConnectionHandler h2 = (Http2ConnectionHandler) ctx.handler();
    int last = Math.max(0, h2.connection().remote().lastStreamCreated());
    h2.goAway(ctx, last, Http2Error.NO_ERROR.code(), Unpooled.EMPTY_BUFFER, ctx.newPromise());
    ctx.flush();
  }

  /** Whether the connection has streams open (false without an HTTP/2 handler). */
  public static boolean busy(ChannelPipeline p) {
    ChannelHandlerContext ctx = p.context(Http2ConnectionHandler.class);
    return ctx != null && ((Http2ConnectionHandler) ctx.handler()).connection().numActiveStreams() > 0;
  }
}
