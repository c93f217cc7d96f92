package dev.kubemtls.netty.internal;

import dev.kubemtls.core.peer.PeerIdentity;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;

/** The channel attributes that carry a connection's verified peer. */
public final class PeerAttributes {

  /** Set once the peer passed verification and the policy. */
  public static final AttributeKey<PeerIdentity> PEER = AttributeKey.valueOf("kube-mtls.peer");

  /** Completed with the verified peer, or failed with why there is none. */
  public static final AttributeKey<Promise<PeerIdentity>> PEER_PROMISE =
      AttributeKey.valueOf("kube-mtls.peer-promise");

  private PeerAttributes() {}

  /** The channel's peer promise, created on first use. */
  public static Promise<PeerIdentity> promise(Channel channel) {
    Promise<PeerIdentity> existing = channel.attr(PEER_PROMISE).get();
    if (existing != null) {
      return existing;
    }
    if (!channel.isRegistered()) {
      throw new IllegalStateException("the channel is not registered with an event loop yet; ask for"
          + " its peer from a handler or after connect/accept");
    }
    Promise<PeerIdentity> created = channel.eventLoop().newPromise();
    Promise<PeerIdentity> raced = channel.attr(PEER_PROMISE).setIfAbsent(created);
    return raced == null ? created : raced;
  }

  /** The channel's peer future. */
  public static Future<PeerIdentity> future(Channel channel) {
    return promise(channel);
  }
}
