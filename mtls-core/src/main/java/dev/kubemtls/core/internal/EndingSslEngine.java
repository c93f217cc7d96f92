package dev.kubemtls.core.internal;

import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.function.Function;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * A client {@link SSLEngine} whose connection ends at the first write after it has outlived its
 * material (a maximum age, the server certificate's end, its CA's removal: whatever {@code ended}
 * says): that {@code wrap} sends close_notify instead of the application bytes and reports
 * {@code CLOSED}, which the client's transport treats as the end of the connection. The bytes not
 * written were never sent, so the request they belong to was not received by the server; the
 * client retries it on a new connection (Kafka's clients do; the JDK {@code HttpClient} does for a
 * request on a connection it took from its pool), which takes the source's current material.
 * Everything else is the delegate's. Used by mtls-kafka (maximum age) and the Spring starter's
 * JDK HTTP clients.
 */
public final class EndingSslEngine extends ForwardingSslEngine {

  private final Function<SSLEngine, String> ended;
  private final boolean betweenExchanges;
  private volatile String why;
  /** Application bytes were read since the last write: the next write starts a new exchange. */
  private volatile boolean readSinceWrite;

  /**
   * {@code ended} is asked before each write of application bytes once the handshake is done, with
   * this engine: why its connection has ended, or null while it may go on.
   */
  public EndingSslEngine(SSLEngine delegate, Function<SSLEngine, String> ended) {
    this(delegate, ended, false);
  }

  /**
   * As {@link #EndingSslEngine(SSLEngine, Function)}; with {@code betweenExchanges}, {@code ended}
   * is asked only at the first write after application bytes were read (the start of a request
   * on a connection that has carried a response: HTTP/1.1 on a pooled connection), never within a
   * request nor on the connection's first request.
   */
  public EndingSslEngine(SSLEngine delegate, Function<SSLEngine, String> ended, boolean betweenExchanges) {
    super(delegate);
    this.ended = Objects.requireNonNull(ended, "ended");
    this.betweenExchanges = betweenExchanges;
  }

  /** Why this engine ended its connection, or null. */
  public String ended() {
    return why;
  }

  @Override
  public SSLEngineResult wrap(ByteBuffer[] srcs, int offset, int length, ByteBuffer dst) throws SSLException {
    if (why == null && delegate.getHandshakeStatus() == HandshakeStatus.NOT_HANDSHAKING
        && !delegate.isOutboundDone() && hasBytes(srcs, offset, length)) {
      String reason = !betweenExchanges || readSinceWrite ? ended.apply(this) : null;
      readSinceWrite = false;
      if (reason != null) {
        why = reason;
        delegate.closeOutbound();
      }
    }
    boolean closing = why != null;
    return delegate.wrap(closing ? new ByteBuffer[0] : srcs, closing ? 0 : offset, closing ? 0 : length, dst);
  }

  private static boolean hasBytes(ByteBuffer[] srcs, int offset, int length) {
    for (int i = offset; i < offset + length; i++) {
      if (srcs[i].hasRemaining()) {
        return true;
      }
    }
    return false;
  }

  @Override
  public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer[] dsts, int offset, int length) throws SSLException {
    SSLEngineResult result = delegate.unwrap(src, dsts, offset, length);
    if (result.bytesProduced() > 0) {
      readSinceWrite = true;
    }
    return result;
  }
}
