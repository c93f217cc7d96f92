package dev.kubemtls.netty;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.netty.internal.PeerAttributes;
import io.netty.channel.Channel;
import io.netty.util.concurrent.Future;
import java.util.Objects;
import java.util.Optional;

/**
 * Entry point of kube-mtls for Netty: mutual TLS whose keys, certificates and trusted CAs follow a
 * {@link MaterialSource} without restarts.
 *
 * <p>{@link #forServer} and {@link #forClient} return builders with the same options as every
 * kube-mtls integration (a {@link dev.kubemtls.core.tls.TlsPolicy}, a
 * {@link dev.kubemtls.core.peer.PeerPolicy}, a {@link dev.kubemtls.core.tls.TlsListener}) that
 * build closeable handles ({@link ServerTls}, {@link ClientTls}). A handle is the pipeline piece
 * that gives every new connection the material that is current at that moment; open connections
 * keep what they started with. Once a handshake has verified the peer, its
 * identity is attached to the channel: read it with {@link #peer}, wait for it with
 * {@link #peerFuture}, or react to the {@link PeerVerifiedEvent} in a handler.
 */
public final class NettyMtls {

  /** The ALPN name of HTTP/2. */
  public static final String ALPN_H2 = "h2";
  /** The ALPN name of HTTP/1.1. */
  public static final String ALPN_HTTP_1_1 = "http/1.1";

  private NettyMtls() {}

  /** Starts a server configuration that takes its material from {@code source}. */
  public static ServerTls.Builder forServer(MaterialSource source) {
    return new ServerTls.Builder(source);
  }

  /** Starts a client configuration that takes its material from {@code source}. */
  public static ClientTls.Builder forClient(MaterialSource source) {
    return new ClientTls.Builder(source);
  }

  /**
   * The verified identity of the channel's peer: empty until the handshake has completed and the
   * peer passed the policy, and on a server with {@link dev.kubemtls.core.tls.ClientAuth#OPTIONAL}
   * whose client sent no certificate.
   */
  public static Optional<PeerIdentity> peer(Channel channel) {
    Objects.requireNonNull(channel, "channel");
    return Optional.ofNullable(channel.attr(PeerAttributes.PEER).get());
  }

  /**
   * Completes with the peer's verified identity once it passed the handshake and the policy. Fails
   * with the handshake's exception, with {@link PeerRejectedException} when the policy refused the
   * peer, with {@link java.nio.channels.ClosedChannelException} when the channel closed first, and
   * with {@link javax.net.ssl.SSLPeerUnverifiedException} on a
   * {@link dev.kubemtls.core.tls.ClientAuth#OPTIONAL} server whose client sent no certificate (that connection stays open). Listeners run on the
   * channel's event loop.
   *
   * @throws IllegalStateException if the channel is not registered with an event loop yet
   */
  public static Future<PeerIdentity> peerFuture(Channel channel) {
    Objects.requireNonNull(channel, "channel");
    return PeerAttributes.future(channel);
  }
}
