package dev.kubemtls.netty.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.internal.HandshakeFailures;
import dev.kubemtls.core.internal.PeerCertificateException;
import dev.kubemtls.core.internal.PeerValidity;
import java.security.cert.CertificateException;
import dev.kubemtls.netty.PeerRejectedException;
import dev.kubemtls.netty.PeerVerifiedEvent;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.PendingWriteQueue;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Promise;
import java.nio.channels.ClosedChannelException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sits right after the {@link SslHandler}: once the handshake has verified the peer's chain, checks
 * the chain's validity against the handle's clock (a resumed session skips the trust manager, which
 * otherwise checks it, and the policy), reads the peer's identity, applies the {@link PeerPolicy},
 * and either publishes the identity on the channel or closes the connection with a logged reason.
 * A refusal by the trust manager's policy check (in the handshake, with an alert) is reported as a
 * {@link PeerRejectedException} as well.
 *
 * <p>Until the peer is accepted, nothing the application writes reaches the network (writes are
 * held and sent in order on acceptance, failed on rejection) and nothing the peer sends reaches the
 * application.
 *
 * <p>It also reports the outcome to the {@link TlsListener} of its {@link PeerCheck}, exactly once per
 * connection, when it leaves the handshaking state: accepted, refused by the TLS stack, refused by
 * the policy, or closed first. With {@link TlsListener#NO_OP} it neither reads the clock nor
 * allocates anything for that.
 */
public final class PeerVerifier extends ChannelDuplexHandler {

  private static final Logger LOG = LoggerFactory.getLogger(PeerVerifier.class);

  private final PeerCheck check;
  private final SslHandler ssl;
  private long handshakeStarted;
  private PendingWriteQueue pending;
  private Promise<PeerIdentity> promise;
  private boolean flushPending;
  private Throwable rejection;
  private State state = State.HANDSHAKING;

  private enum State { HANDSHAKING, ACCEPTED, REJECTED }

  public PeerVerifier(PeerCheck check, SslHandler ssl) {
    this.check = check;
    this.ssl = ssl;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    pending = new PendingWriteQueue(ctx);
    promise = PeerAttributes.promise(ctx.channel());
    if (check.reporting() && ctx.channel().isActive()) {
      // The SslHandler before us starts the handshake now (a client sends its hello).
      handshakeStarted = System.nanoTime();
    }
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    if (check.reporting() && state == State.HANDSHAKING) {
      // Installed before the connection was up: the handshake starts with it.
      handshakeStarted = System.nanoTime();
    }
    ctx.fireChannelActive();
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    if (pending != null && !pending.isEmpty()) {
      pending.removeAndFailAll(new IllegalStateException("the kube-mtls peer check was removed"));
    }
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (!(evt instanceof SslHandshakeCompletionEvent done) || state != State.HANDSHAKING) {
      ctx.fireUserEventTriggered(evt);
      return;
    }
    if (!done.isSuccess()) {
      state = State.REJECTED;
      // The peer policy refuses in the handshake (so the peer gets an alert); the application still
      // sees that refusal as a PeerRejectedException.
      Throwable refused = policyRefusal(done.cause());
      rejection = refused;
      if (explained(done.cause())) {
        // The trust manager has logged why, with the certificate's subject and serial.
        LOG.debug("kube-mtls {}: TLS handshake with {} failed: {}", check.label(),
            ctx.channel().remoteAddress(), String.valueOf(done.cause()));
      } else {
        LOG.info("kube-mtls {}: TLS handshake with {} failed: {}", check.label(),
            ctx.channel().remoteAddress(), String.valueOf(done.cause()));
      }
      if (check.reporting()) {
        reportFailure(HandshakeFailures.classify(done.cause()), refused);
      }
      promise.tryFailure(refused);
      failPending(refused);
      ctx.fireUserEventTriggered(evt);
      return;
    }
    try {
      // A resumed session skips the trust manager: the peer's chain is checked on every handshake.
      checkValidity();
    } catch (CertificateException e) {
      reject(ctx, null, HandshakeFailures.classify(e), "refused a resumed TLS session: " + e.getMessage(), e);
      try {
        ssl.engine().getSession().invalidate();
      } catch (RuntimeException ignored) {
        // the connection closes all the same
      }
      return;
    }
    PeerIdentity peer;
    try {
      peer = verifiedPeer();
    } catch (RuntimeException e) {
      // The chain is trusted, but its leaf is still input: anything we cannot read closes it.
      reject(ctx, null, HandshakeFailure.PEER_NOT_ALLOWED,
          "its certificate cannot be read: " + e.getMessage());
      return;
    }
    PeerPolicy policy = check.policy();
    if (peer == null && (check.certificateRequired() || policy.hasAllowList())) {
      reject(ctx, null, HandshakeFailure.NO_PEER_CERTIFICATE, "it presented no certificate and "
          + (check.certificateRequired() ? "one is required"
              : "the allow-list " + policy + " needs an identity"));
      return;
    }
    if (peer != null) {
      Optional<String> denial;
      try {
        denial = policy.denialReason(peer);
      } catch (RuntimeException e) {
        denial = Optional.of("its identity could not be checked: " + e.getMessage());
      }
      if (denial.isPresent()) {
        reject(ctx, peer, HandshakeFailure.PEER_NOT_ALLOWED, denial.get());
        return;
      }
      ctx.channel().attr(PeerAttributes.PEER).set(peer);
    }
    state = State.ACCEPTED;
    SSLSession session = ssl.engine().getSession();
    LOG.debug("kube-mtls {}: accepted peer {} from {} ({}, {})", check.label(),
        peer == null ? "without certificate" : peer.displayName(), ctx.channel().remoteAddress(),
        session.getProtocol(), session.getCipherSuite());
    if (check.reporting()) {
      check.listener().handshakeSucceeded(check.side(), Optional.ofNullable(peer),
          session.getProtocol(), session.getCipherSuite(), took());
    }
    pending.removeAndWriteAll();
    if (flushPending) {
      flushPending = false;
      ctx.flush();
    }
    if (peer != null) {
      promise.trySuccess(peer);
    } else {
      promise.tryFailure(new SSLPeerUnverifiedException("the client sent no certificate"));
    }
    ctx.fireUserEventTriggered(evt);
    ctx.fireUserEventTriggered(new PeerVerifiedEvent(Optional.ofNullable(peer)));
  }

  /**
   * A {@link PeerRejectedException} (caused by {@code failure}) when the trust manager's peer policy
   * refused the peer in the handshake, else {@code failure}.
   */
  private static Throwable policyRefusal(Throwable failure) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof PeerCertificateException p && p.rejection() == PeerCertificateException.Rejection.NOT_ALLOWED) {
        PeerRejectedException e = new PeerRejectedException(p.peer().orElse(null), p.getMessage());
        e.initCause(failure);
        return e;
      }
    }
    return failure;
  }

  private static boolean explained(Throwable failure) {
    int depth = 0;
    for (Throwable t = failure; t != null && depth < 16; t = t.getCause(), depth++) {
      if (t instanceof dev.kubemtls.core.internal.PeerCertificateException) {
        return true;
      }
    }
    return false;
  }

  /** Checks the validity of every certificate of the peer's chain against the handle's clock. */
  private void checkValidity() throws CertificateException {
    Certificate[] chain;
    try {
      chain = ssl.engine().getSession().getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return;
    }
    PeerValidity.check(chain, check.chains().clock().instant());
  }

  /** The leaf the TLS stack verified, or null when the peer sent none. */
  private PeerIdentity verifiedPeer() {
    Certificate[] chain;
    try {
      chain = ssl.engine().getSession().getPeerCertificates();
    } catch (SSLPeerUnverifiedException e) {
      return null;
    }
    if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
      throw new InvalidMaterialException("the peer's certificate is not an X.509 certificate");
    }
    // Read once per distinct certificate: a peer that reconnects costs no parse of its SANs.
    return check.chains().identity(leaf);
  }

  private void reject(ChannelHandlerContext ctx, PeerIdentity peer, HandshakeFailure failure,
      String reason) {
    reject(ctx, peer, failure, reason, null);
  }

  private void reject(ChannelHandlerContext ctx, PeerIdentity peer, HandshakeFailure failure,
      String reason, Throwable cause) {
    state = State.REJECTED;
    String who = peer == null ? "peer" : "peer " + peer.displayName();
    LOG.warn("kube-mtls {}: closing the connection from {} at {}: {}", check.label(), who,
        ctx.channel().remoteAddress(), reason);
    PeerRejectedException e = new PeerRejectedException(peer, who + " rejected: " + reason);
    if (cause != null) {
      e.initCause(cause);
    }
    rejection = e;
    if (check.reporting()) {
      reportFailure(failure, e);
    }
    promise.tryFailure(e);
    failPending(e);
    ctx.fireUserEventTriggered(new SslHandshakeCompletionEvent(e));
    ctx.close();
  }

  private void reportFailure(HandshakeFailure failure, Throwable cause) {
    check.listener().handshakeFailed(check.side(), failure, cause, took());
  }

  /** Since the handshake started; zero if the connection never came up. */
  private Duration took() {
    return handshakeStarted == 0 ? Duration.ZERO
        : Duration.ofNanos(Math.max(0, System.nanoTime() - handshakeStarted));
  }

  private void failPending(Throwable cause) {
    if (!pending.isEmpty()) {
      pending.removeAndFailAll(cause);
    }
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (state == State.ACCEPTED) {
      ctx.fireChannelRead(msg);
    } else {
      ReferenceCountUtil.release(msg);
    }
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise writePromise) {
    switch (state) {
      case ACCEPTED -> ctx.write(msg, writePromise);
      case HANDSHAKING -> pending.add(msg, writePromise);
      default -> {
        ReferenceCountUtil.release(msg);
        writePromise.setFailure(rejection);
      }
    }
  }

  @Override
  public void flush(ChannelHandlerContext ctx) {
    if (state == State.ACCEPTED) {
      ctx.flush();
    } else {
      flushPending = true;
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    ClosedChannelException closed = new ClosedChannelException();
    promise.tryFailure(closed);
    failPending(closed);
    if (state == State.HANDSHAKING) {
      state = State.REJECTED;
      rejection = closed;
      if (check.reporting()) {
        reportFailure(HandshakeFailure.OTHER, closed);
      }
    }
    ctx.fireChannelInactive();
  }
}
