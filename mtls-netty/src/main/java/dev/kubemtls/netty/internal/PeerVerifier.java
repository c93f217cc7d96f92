package dev.kubemtls.netty.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.PeerIdentity;
import dev.kubemtls.core.PeerPolicy;
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
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sits right after the {@link SslHandler}: once the handshake has verified the peer's chain, reads
 * the peer's identity, applies the {@link PeerPolicy}, and either publishes the identity on the
 * channel or closes the connection with a logged reason.
 *
 * <p>Until the peer is accepted, nothing the application writes reaches the network (writes are
 * held and sent in order on acceptance, failed on rejection) and nothing the peer sends reaches the
 * application.
 */
public final class PeerVerifier extends ChannelDuplexHandler {

  private static final Logger LOG = LoggerFactory.getLogger(PeerVerifier.class);

  private final String side;
  private final SslHandler ssl;
  private final PeerPolicy policy;
  private final boolean certificateRequired;
  private PendingWriteQueue pending;
  private Promise<PeerIdentity> promise;
  private boolean flushPending;
  private Throwable rejection;
  private State state = State.HANDSHAKING;

  private enum State { HANDSHAKING, ACCEPTED, REJECTED }

  public PeerVerifier(String side, SslHandler ssl, PeerPolicy policy, boolean certificateRequired) {
    this.side = side;
    this.ssl = ssl;
    this.policy = policy;
    this.certificateRequired = certificateRequired;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    pending = new PendingWriteQueue(ctx);
    promise = PeerAttributes.promise(ctx.channel());
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
      rejection = done.cause();
      LOG.info("kube-mtls {}: TLS handshake with {} failed: {}", side, ctx.channel().remoteAddress(),
          String.valueOf(done.cause()));
      promise.tryFailure(done.cause());
      failPending(done.cause());
      ctx.fireUserEventTriggered(evt);
      return;
    }
    PeerIdentity peer;
    try {
      peer = verifiedPeer();
    } catch (RuntimeException e) {
      // The chain is trusted, but its leaf is still input: anything we cannot read closes it.
      reject(ctx, null, "its certificate cannot be read: " + e.getMessage());
      return;
    }
    if (peer == null && (certificateRequired || !policy.isAllowAll())) {
      reject(ctx, null, "it presented no certificate and " + (certificateRequired
          ? "one is required" : "the allow-list " + policy + " needs an identity"));
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
        reject(ctx, peer, denial.get());
        return;
      }
      ctx.channel().attr(PeerAttributes.PEER).set(peer);
    }
    state = State.ACCEPTED;
    LOG.debug("kube-mtls {}: accepted peer {} from {} ({}, {})", side,
        peer == null ? "without certificate" : peer.displayName(), ctx.channel().remoteAddress(),
        ssl.engine().getSession().getProtocol(), ssl.engine().getSession().getCipherSuite());
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
    return PeerIdentity.of(leaf);
  }

  private void reject(ChannelHandlerContext ctx, PeerIdentity peer, String reason) {
    state = State.REJECTED;
    String who = peer == null ? "peer" : "peer " + peer.displayName();
    LOG.warn("kube-mtls {}: closing the connection from {} at {}: {}", side, who,
        ctx.channel().remoteAddress(), reason);
    PeerRejectedException e = new PeerRejectedException(peer, who + " rejected: " + reason);
    rejection = e;
    promise.tryFailure(e);
    failPending(e);
    ctx.fireUserEventTriggered(new SslHandshakeCompletionEvent(e));
    ctx.close();
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
    }
    ctx.fireChannelInactive();
  }
}
