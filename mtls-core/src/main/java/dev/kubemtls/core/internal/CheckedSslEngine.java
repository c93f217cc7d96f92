package dev.kubemtls.core.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import java.nio.ByteBuffer;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.time.InstantSource;
import java.util.Objects;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSession;

/**
 * A JDK {@link SSLEngine} that checks the peer's certificate validity against an injected clock on
 * every handshake, whether the trust manager ran (a full handshake) or not (a resumed session, which
 * SunJSSE accepts without looking at the peer's notAfter). Everything else is the delegate's.
 *
 * <p><b>A server refuses an expired resumed session before its first flight, with an alert.</b>
 * SunJSSE decides on resumption while it consumes the ClientHello, and from then on its handshake
 * session is the session being resumed, peer chain included; the ServerHello it has prepared only
 * leaves at the next {@code wrap}. So before each {@code wrap} of a server whose ServerHello has
 * not gone out yet, the peer chain of that session is checked. If a certificate of it is outside
 * its validity window, the delegate is not wrapped again: the {@code wrap} throws an
 * {@link SSLHandshakeException} (reported to the listener, the session invalidated) and a fatal
 * {@code certificate_expired} alert (RFC 8446 and RFC 5246: "a certificate has expired or is not
 * currently valid") is left to send, as SunJSSE does with its own fatal errors: the handshake
 * status is {@code NEED_WRAP} until the next {@code wrap} writes the alert, which returns
 * {@code CLOSED}. Nothing is encrypted yet at that point (the ServerHello would have engaged the
 * keys), so the alert is a plaintext record with version 0x0303, which a TLS 1.2 or 1.3 client
 * reads before a ServerHello. A ServerHello is recognised in the delegate's own output; a
 * HelloRetryRequest, which has the form of one, is not, so the check runs again before the
 * ServerHello that answers the second ClientHello.
 *
 * <p><b>A client does not offer a session whose server has expired.</b> Before a client engine
 * writes its ClientHello (at {@code beginHandshake} or its first {@code wrap}), it runs the hook it
 * was given, which invalidates the cached client sessions whose peer certificate has expired; an
 * expired server then meets a full handshake, whose trust check refuses it with an alert. A client
 * cannot refuse a session the server agreed to resume with an alert of its own: in TLS 1.3 its
 * reply is encrypted by then.
 *
 * <p><b>The last line: at completion.</b> When the handshake completes, the peer chain is checked
 * again (a session the checks above did not see: one that expired while the handshake ran, or a
 * client without the hook). A refusal there fails the {@code wrap} or {@code unwrap} that finished
 * the handshake with an {@link SSLHandshakeException}, so the connection is closed before any
 * application data, and the session is invalidated so that it is not offered or accepted again;
 * the peer then sees a {@code close_notify}, not an alert: the keys are in place and no public JDK
 * API sends an alert after completion.
 */
public final class CheckedSslEngine extends ForwardingSslEngine {

  /** The random of a HelloRetryRequest (RFC 8446, section 4.1.3): a ServerHello with it is none. */
  private static final byte[] HELLO_RETRY_REQUEST_RANDOM = java.util.HexFormat.of()
      .parseHex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c");
  private static final byte CONTENT_ALERT = 21;
  private static final byte CONTENT_HANDSHAKE = 22;
  private static final byte HANDSHAKE_SERVER_HELLO = 2;
  private static final byte ALERT_FATAL = 2;
  /** certificate_expired: "a certificate has expired or is not currently valid" (RFC 8446, RFC 5246). */
  private static final byte ALERT_CERTIFICATE_EXPIRED = 45;

  private final InstantSource clock;
  private final String side;
  private final TlsListener listener;
  private final Runnable beforeClientHello;
  private volatile boolean checked;
  /** Whether the ClientHello hook ran (or had no reason to). */
  private volatile boolean helloPrepared;
  /** Whether this server's ServerHello (not a HelloRetryRequest) has left through {@code wrap}. */
  private volatile boolean serverHelloSent;
  /** Whether this engine refused a resumption before its first flight; the delegate is done then. */
  private volatile boolean refused;
  /** The fatal alert record a refusal left to send, until a {@code wrap} takes it. */
  private volatile ByteBuffer pendingAlert;
  private volatile long started;

  public CheckedSslEngine(SSLEngine delegate, InstantSource clock, String side) {
    this(delegate, clock, side, null);
  }

  /**
   * As {@link #CheckedSslEngine(SSLEngine, InstantSource, String)}, reporting the outcome of the
   * handshake to {@code listener} (if not null) once: succeeded when it completes and the peer passed,
   * failed when a {@code wrap} or {@code unwrap} of the handshake throws.
   */
  public CheckedSslEngine(SSLEngine delegate, InstantSource clock, String side, TlsListener listener) {
    this(delegate, clock, side, listener, null);
  }

  /**
   * As {@link #CheckedSslEngine(SSLEngine, InstantSource, String, TlsListener)}, running
   * {@code beforeClientHello} (if not null) once in client mode, before the delegate writes its
   * ClientHello: the place to invalidate cached sessions that must not be offered.
   */
  public CheckedSslEngine(SSLEngine delegate, InstantSource clock, String side, TlsListener listener,
      Runnable beforeClientHello) {
    super(delegate);
    this.clock = Objects.requireNonNull(clock, "clock");
    this.side = Objects.requireNonNull(side, "side");
    this.listener = listener;
    this.beforeClientHello = beforeClientHello;
  }

  private void start() {
    if (started == 0 && listener != null) {
      started = System.nanoTime();
    }
  }

  private Duration took() {
    return started == 0 ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - started);
  }

  private TlsListener.Side listenerSide() {
    return delegate.getUseClientMode() ? TlsListener.Side.CLIENT : TlsListener.Side.SERVER;
  }

  private SSLException failed(SSLException e) {
    if (listener != null && !checked) {
      checked = true;
      listener.handshakeFailed(listenerSide(), HandshakeFailures.classify(e), e, took());
    }
    return e;
  }

  /** Runs the ClientHello hook once, before the delegate's handshake starts, in client mode. */
  private void prepareHello() {
    if (!helloPrepared) {
      helloPrepared = true;
      if (beforeClientHello != null && delegate.getUseClientMode()) {
        beforeClientHello.run();
      }
    }
  }

  /**
   * Before a server's first flight: refuses the session SunJSSE is about to resume if its peer
   * chain is outside its validity window, leaving a fatal alert to send; a full handshake's session
   * has no peer chain yet and passes.
   */
  private void refuseExpiredResumption() throws SSLHandshakeException {
    SSLSession resuming = delegate.getHandshakeSession();
    if (resuming == null) {
      return;
    }
    try {
      PeerValidity.checkResumption(resuming, clock.instant(), side);
    } catch (SSLHandshakeException e) {
      checked = true;
      pendingAlert = alertRecord(resuming.getProtocol());
      refused = true;
      resuming.invalidate();
      // The delegate's prepared flight is never wrapped; closing it only ends its handshake state.
      delegate.closeOutbound();
      if (listener != null) {
        listener.handshakeFailed(listenerSide(), HandshakeFailures.classify(e), e, took());
      }
      throw e;
    }
  }

  /**
   * A plaintext fatal certificate_expired alert record: nothing is encrypted before the ServerHello.
   * Its version is 0x0303 for TLS 1.2 and 1.3 (RFC 8446, 5.1: every record but an initial
   * ClientHello), the protocol's own for older ones.
   */
  private static ByteBuffer alertRecord(String protocol) {
    byte minor = switch (protocol == null ? "" : protocol) {
      case "TLSv1" -> 1;
      case "TLSv1.1" -> 2;
      default -> 3;
    };
    return ByteBuffer.wrap(new byte[] {CONTENT_ALERT, 3, minor, 0, 2, ALERT_FATAL, ALERT_CERTIFICATE_EXPIRED})
        .asReadOnlyBuffer();
  }

  /** Whether the records in {@code out} between {@code from} and {@code to} carry a ServerHello that is not a HelloRetryRequest. */
  static boolean carriesServerHello(ByteBuffer out, int from, int to) {
    int at = from;
    while (to - at >= 5) {
      byte type = out.get(at);
      int length = ((out.get(at + 3) & 0xff) << 8) | (out.get(at + 4) & 0xff);
      int body = at + 5;
      // handshake header (4) + legacy_version (2) + random (32)
      if (type == CONTENT_HANDSHAKE && length >= 38 && to - body >= 38 && out.get(body) == HANDSHAKE_SERVER_HELLO) {
        for (int i = 0; i < HELLO_RETRY_REQUEST_RANDOM.length; i++) {
          if (out.get(body + 6 + i) != HELLO_RETRY_REQUEST_RANDOM[i]) {
            return true;
          }
        }
      }
      at = body + length;
    }
    return false;
  }

  /** The {@code wrap} of a refused engine: the pending alert, then nothing. */
  private SSLEngineResult sendAlert(ByteBuffer dst) {
    ByteBuffer alert = pendingAlert;
    if (alert == null) {
      return new SSLEngineResult(SSLEngineResult.Status.CLOSED, HandshakeStatus.NOT_HANDSHAKING, 0, 0);
    }
    if (dst.remaining() < alert.remaining()) {
      return new SSLEngineResult(SSLEngineResult.Status.BUFFER_OVERFLOW, HandshakeStatus.NEED_WRAP, 0, 0);
    }
    int produced = alert.remaining();
    dst.put(alert.duplicate());
    pendingAlert = null;
    return new SSLEngineResult(SSLEngineResult.Status.CLOSED, HandshakeStatus.NOT_HANDSHAKING, 0, produced);
  }

  private SSLEngineResult checked(SSLEngineResult result) throws SSLException {
    if (result.getHandshakeStatus() == HandshakeStatus.FINISHED && !checked) {
      checked = true;
      SSLSession session = delegate.getSession();
      try {
        PeerValidity.checkSession(session, clock.instant(), side);
      } catch (SSLHandshakeException e) {
        session.invalidate();
        delegate.closeOutbound();
        if (listener != null) {
          listener.handshakeFailed(listenerSide(), HandshakeFailures.classify(e), e, took());
        }
        throw e;
      }
      if (listener != null) {
        listener.handshakeSucceeded(listenerSide(), peerOf(session), session.getProtocol(),
            session.getCipherSuite(), took());
      }
    }
    return result;
  }

  /** The identity of a session's verified peer, or empty when it sent no readable certificate. */
  public static Optional<PeerIdentity> peerOf(SSLSession session) {
    try {
      Certificate[] chain = session.getPeerCertificates();
      if (chain.length > 0 && chain[0] instanceof X509Certificate leaf) {
        return Optional.of(PeerIdentity.of(leaf));
      }
    } catch (javax.net.ssl.SSLPeerUnverifiedException | RuntimeException e) {
      // no certificate, or one that names no workload
    }
    return Optional.empty();
  }

  @Override
  public SSLEngineResult wrap(ByteBuffer[] srcs, int offset, int length, ByteBuffer dst) throws SSLException {
    if (refused) {
      return sendAlert(dst);
    }
    start();
    prepareHello();
    boolean beforeServerHello = !checked && !serverHelloSent && !delegate.getUseClientMode();
    if (beforeServerHello) {
      refuseExpiredResumption();
    }
    try {
      SSLEngineResult result = delegate.wrap(srcs, offset, length, dst);
      if (beforeServerHello && result.bytesProduced() > 0
          && carriesServerHello(dst, dst.position() - result.bytesProduced(), dst.position())) {
        serverHelloSent = true;
      }
      return checked(result);
    } catch (SSLException e) {
      throw failed(e);
    }
  }

  @Override
  public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer[] dsts, int offset, int length) throws SSLException {
    if (refused) {
      return new SSLEngineResult(SSLEngineResult.Status.CLOSED, getHandshakeStatus(), 0, 0);
    }
    start();
    try {
      return checked(delegate.unwrap(src, dsts, offset, length));
    } catch (SSLException e) {
      throw failed(e);
    }
  }

  @Override
  public SSLEngineResult wrap(ByteBuffer src, ByteBuffer dst) throws SSLException {
    return wrap(new ByteBuffer[] {src}, 0, 1, dst);
  }

  @Override
  public SSLEngineResult wrap(ByteBuffer[] srcs, ByteBuffer dst) throws SSLException {
    return wrap(srcs, 0, srcs.length, dst);
  }

  @Override
  public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer dst) throws SSLException {
    return unwrap(src, new ByteBuffer[] {dst}, 0, 1);
  }

  @Override
  public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer[] dsts) throws SSLException {
    return unwrap(src, dsts, 0, dsts.length);
  }

  @Override
  public Runnable getDelegatedTask() {
    return refused ? null : delegate.getDelegatedTask();
  }

  @Override
  public void closeInbound() throws SSLException {
    if (!refused) {
      delegate.closeInbound();
    }
  }

  @Override
  public boolean isInboundDone() {
    return refused || delegate.isInboundDone();
  }

  /** After a refusal the pending alert still goes out: closing adds nothing to it. */
  @Override
  public void closeOutbound() {
    if (!refused) {
      delegate.closeOutbound();
    }
  }

  @Override
  public boolean isOutboundDone() {
    return refused ? pendingAlert == null : delegate.isOutboundDone();
  }

  @Override
  public void beginHandshake() throws SSLException {
    if (refused) {
      throw new SSLException("kube-mtls " + side + ": this engine refused its peer; it cannot handshake again");
    }
    prepareHello();
    delegate.beginHandshake();
  }

  @Override
  public HandshakeStatus getHandshakeStatus() {
    if (refused) {
      return pendingAlert != null ? HandshakeStatus.NEED_WRAP : HandshakeStatus.NOT_HANDSHAKING;
    }
    return delegate.getHandshakeStatus();
  }
}
