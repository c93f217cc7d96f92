package dev.kubemtls.grpc.internal;

import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.netty.internal.PeerCheck;
import dev.kubemtls.netty.internal.PeerVerifier;
import dev.kubemtls.netty.internal.Pipelines;
import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.internal.ObjectPool;
import io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.InternalNettyChannelCredentials;
import io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.grpc.netty.NettySslContextServerCredentials;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AsciiString;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * grpc-netty's own TLS negotiation with mtls-netty's peer check ({@link PeerVerifier}) right after
 * the {@link SslHandler} that grpc adds: the same handler a Netty server or client has there, so a
 * gRPC connection's handshake is checked and reported exactly as a Netty connection's is. Every
 * handshake is reported once, with its duration: a failure of the TLS stack (no common protocol,
 * group or signature scheme, no client certificate, plain text, an alert from the peer, a closed
 * connection) with its class, a certificate the trust manager refused, a resumed session whose
 * peer chain is outside its validity window by the handle's clock (the connection is closed), and
 * a success.
 *
 * <p>grpc's negotiation handlers add the {@code SslHandler} themselves, when the connection is
 * active, and consume its completion event. So the handler given to grpc puts grpc's negotiation
 * handler after itself, passes the events on, and as soon as the {@code SslHandler} is in the
 * pipeline (in the same event), adds the peer check between it and grpc's handler and leaves. The
 * engines stay the context's own (an OpenSSL engine stays Netty's OpenSSL engine, which Netty's
 * {@code SslHandler} and ALPN depend on).
 */
public final class PeerCheckingNegotiator implements InternalProtocolNegotiator.ProtocolNegotiator {

  private static final Logger LOG = LoggerFactory.getLogger(PeerCheckingNegotiator.class);

  private final InternalProtocolNegotiator.ProtocolNegotiator delegate;
  private final PeerCheck check;
  /** On a server over a {@link FollowingSslContext}: why it cannot serve now, or null. */
  private final Supplier<IllegalStateException> unavailable;

  private PeerCheckingNegotiator(InternalProtocolNegotiator.ProtocolNegotiator delegate, PeerCheck check,
      Supplier<IllegalStateException> unavailable) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.check = Objects.requireNonNull(check, "check");
    this.unavailable = Objects.requireNonNull(unavailable, "unavailable");
  }

  /** Server credentials: grpc's TLS negotiation over {@code context}, with the peer check. */
  public static ServerCredentials server(SslContext context, PeerCheck check) {
    Supplier<IllegalStateException> unavailable = context instanceof FollowingSslContext following
        ? following::unavailable : () -> null;
    InternalProtocolNegotiator.ServerFactory grpc =
        InternalNettyServerCredentials.toNegotiator(NettySslContextServerCredentials.create(context));
    return InternalNettyServerCredentials.create(new InternalProtocolNegotiator.ServerFactory() {
      @Override
      public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator(ObjectPool<? extends Executor> offload) {
        return new PeerCheckingNegotiator(grpc.newNegotiator(offload), check, unavailable);
      }
    });
  }

  /** Channel credentials: grpc's TLS negotiation over {@code context}, with the peer check. */
  public static ChannelCredentials client(SslContext context, PeerCheck check) {
    InternalProtocolNegotiator.ClientFactory grpc =
        InternalNettyChannelCredentials.toNegotiator(NettySslContextChannelCredentials.create(context));
    return InternalNettyChannelCredentials.create(new InternalProtocolNegotiator.ClientFactory() {
      @Override
      public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator() {
        return new PeerCheckingNegotiator(grpc.newNegotiator(), check, () -> null);
      }

      @Override
      public int getDefaultPort() {
        return grpc.getDefaultPort();
      }
    });
  }

  /**
   * What to do when grpc's TLS handler cannot make an engine (no usable material yet), so that no
   * handshake starts and grpc closes the connection: a server logs and reports it as a Netty server
   * reports a connection it refuses for that reason ({@code OTHER}); a Netty client's connect fails
   * instead, and a channel's call fails with the reason, so a channel reports nothing.
   */
  public static Consumer<RuntimeException> noEngine(PeerCheck check) {
    if (check.side() != TlsListener.Side.SERVER) {
      return e -> { };
    }
    return e -> {
      LOG.warn("kube-mtls {}: refusing a connection: {}", check.label(), e.getMessage());
      if (check.reporting()) {
        check.listener().handshakeFailed(check.side(), TlsListener.HandshakeFailure.OTHER, e, Duration.ZERO);
      }
    };
  }

  @Override
  public AsciiString scheme() {
    return delegate.scheme();
  }

  @Override
  public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpcHandler) {
    return new Installer(delegate.newHandler(grpcHandler), check, unavailable);
  }

  @Override
  public void close() {
    delegate.close();
  }

  /**
   * Stands in front of grpc's negotiation handler until grpc has added its {@code SslHandler}, then
   * puts the peer check right after that and removes itself.
   */
  private static final class Installer extends ChannelInboundHandlerAdapter {

    private final ChannelHandler negotiation;
    private final PeerCheck check;
    private final Supplier<IllegalStateException> unavailable;
    private boolean done;

    Installer(ChannelHandler negotiation, PeerCheck check, Supplier<IllegalStateException> unavailable) {
      this.negotiation = negotiation;
      this.check = check;
      this.unavailable = unavailable;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      IllegalStateException refused = unavailable.get();
      if (refused != null) {
        // A server without material: refused here, logged and reported once as a Netty server does,
        // and closed before grpc's TLS handler would throw from Netty's channel initialisation (which
        // logs it again, with a stack trace, for every connection).
        noEngine(check).accept(refused);
        ctx.close();
        return;
      }
      ctx.pipeline().addAfter(ctx.name(), null, negotiation);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
      // grpc's first negotiation event: on an active connection its TLS handler adds the SslHandler.
      ctx.fireUserEventTriggered(evt);
      install(ctx);
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      // A channel's connection came up: its TLS handler adds the SslHandler now.
      ctx.fireChannelActive();
      install(ctx);
    }

    private void install(ChannelHandlerContext ctx) {
      if (done) {
        return;
      }
      ChannelPipeline p = ctx.pipeline();
      boolean after = false;
      for (Map.Entry<String, ChannelHandler> e : p) {
        if (e.getValue() == this) {
          after = true;
        } else if (after && e.getValue() instanceof SslHandler ssl) {
          done = true;
          p.addAfter(e.getKey(), Pipelines.PEER_HANDLER, new PeerVerifier(check, ssl));
          p.remove(this);
          return;
        }
      }
    }
  }
}
