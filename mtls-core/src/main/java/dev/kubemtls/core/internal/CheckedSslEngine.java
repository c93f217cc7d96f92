package dev.kubemtls.core.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.tls.TlsListener;
import java.nio.ByteBuffer;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.time.InstantSource;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;

/**
 * A JDK {@link SSLEngine} that checks the peer's certificate validity against an injected clock
 * when the handshake completes, whether the trust manager ran (a full handshake) or not (a resumed
 * session, which SunJSSE accepts without looking at the peer's notAfter). A refused session fails
 * the {@code wrap} or {@code unwrap} that finished the handshake with an
 * {@link SSLHandshakeException}, so the connection is closed before any application data; the
 * session is invalidated so that it is not offered or accepted again. Everything else is the
 * delegate's.
 */
public final class CheckedSslEngine extends SSLEngine {

  private final SSLEngine delegate;
  private final InstantSource clock;
  private final String side;
  private final TlsListener listener;
  private volatile boolean checked;
  private volatile long started;
  private BiFunction<SSLEngine, List<String>, String> selector;

  public CheckedSslEngine(SSLEngine delegate, InstantSource clock, String side) {
    this(delegate, clock, side, null);
  }

  /**
   * As {@link #CheckedSslEngine(SSLEngine, InstantSource, String)}, reporting the outcome of the
   * handshake to {@code listener} (if not null) once: succeeded when it completes and the peer passed,
   * failed when a {@code wrap} or {@code unwrap} of the handshake throws.
   */
  public CheckedSslEngine(SSLEngine delegate, InstantSource clock, String side, TlsListener listener) {
    super(delegate.getPeerHost(), delegate.getPeerPort());
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.side = Objects.requireNonNull(side, "side");
    this.listener = listener;
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
    start();
    try {
      return checked(delegate.wrap(srcs, offset, length, dst));
    } catch (SSLException e) {
      throw failed(e);
    }
  }

  @Override
  public SSLEngineResult unwrap(ByteBuffer src, ByteBuffer[] dsts, int offset, int length) throws SSLException {
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
    return delegate.getDelegatedTask();
  }

  @Override
  public void closeInbound() throws SSLException {
    delegate.closeInbound();
  }

  @Override
  public boolean isInboundDone() {
    return delegate.isInboundDone();
  }

  @Override
  public void closeOutbound() {
    delegate.closeOutbound();
  }

  @Override
  public boolean isOutboundDone() {
    return delegate.isOutboundDone();
  }

  @Override
  public String[] getSupportedCipherSuites() {
    return delegate.getSupportedCipherSuites();
  }

  @Override
  public String[] getEnabledCipherSuites() {
    return delegate.getEnabledCipherSuites();
  }

  @Override
  public void setEnabledCipherSuites(String[] suites) {
    delegate.setEnabledCipherSuites(suites);
  }

  @Override
  public String[] getSupportedProtocols() {
    return delegate.getSupportedProtocols();
  }

  @Override
  public String[] getEnabledProtocols() {
    return delegate.getEnabledProtocols();
  }

  @Override
  public void setEnabledProtocols(String[] protocols) {
    delegate.setEnabledProtocols(protocols);
  }

  @Override
  public SSLSession getSession() {
    return delegate.getSession();
  }

  @Override
  public SSLSession getHandshakeSession() {
    return delegate.getHandshakeSession();
  }

  @Override
  public void beginHandshake() throws SSLException {
    delegate.beginHandshake();
  }

  @Override
  public HandshakeStatus getHandshakeStatus() {
    return delegate.getHandshakeStatus();
  }

  @Override
  public void setUseClientMode(boolean mode) {
    delegate.setUseClientMode(mode);
  }

  @Override
  public boolean getUseClientMode() {
    return delegate.getUseClientMode();
  }

  @Override
  public void setNeedClientAuth(boolean need) {
    delegate.setNeedClientAuth(need);
  }

  @Override
  public boolean getNeedClientAuth() {
    return delegate.getNeedClientAuth();
  }

  @Override
  public void setWantClientAuth(boolean want) {
    delegate.setWantClientAuth(want);
  }

  @Override
  public boolean getWantClientAuth() {
    return delegate.getWantClientAuth();
  }

  @Override
  public void setEnableSessionCreation(boolean flag) {
    delegate.setEnableSessionCreation(flag);
  }

  @Override
  public boolean getEnableSessionCreation() {
    return delegate.getEnableSessionCreation();
  }

  @Override
  public SSLParameters getSSLParameters() {
    return delegate.getSSLParameters();
  }

  @Override
  public void setSSLParameters(SSLParameters params) {
    delegate.setSSLParameters(params);
  }

  @Override
  public String getApplicationProtocol() {
    return delegate.getApplicationProtocol();
  }

  @Override
  public String getHandshakeApplicationProtocol() {
    return delegate.getHandshakeApplicationProtocol();
  }

  @Override
  public void setHandshakeApplicationProtocolSelector(BiFunction<SSLEngine, List<String>, String> selector) {
    this.selector = selector;
    delegate.setHandshakeApplicationProtocolSelector(selector == null ? null
        : (engine, protocols) -> selector.apply(this, protocols));
  }

  @Override
  public BiFunction<SSLEngine, List<String>, String> getHandshakeApplicationProtocolSelector() {
    return selector;
  }

  @Override
  public String toString() {
    return "CheckedSslEngine[" + delegate + "]";
  }
}
