package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerIdentity;
import dev.kubemtls.grpc.internal.PeerContext;
import io.grpc.Context;
import java.util.Optional;

/**
 * Entry point of kube-mtls for gRPC-java: servers and channels whose keys, certificates and trusted
 * CAs follow a {@link MaterialSource} without restarts.
 *
 * <p>{@link #forServer} and {@link #forClient} return builders with the options of every kube-mtls
 * integration (a {@link dev.kubemtls.core.tls.TlsPolicy}, a {@link dev.kubemtls.core.peer.PeerPolicy},
 * a {@link dev.kubemtls.core.tls.TlsListener}) that build closeable handles ({@link GrpcServerTls},
 * {@link GrpcClientTls}). A handle's credentials give every new connection the material current at
 * that moment; open connections keep theirs until they end, which the server bounds with a maximum
 * connection age. On the server, every call runs with the verified caller in the gRPC
 * {@link Context}: read it with {@link #peer()} or {@link #peerKey()}.
 */
public final class GrpcMtls {

  private GrpcMtls() {}

  /** Starts a server configuration that takes its material from {@code source}. */
  public static GrpcServerTls.Builder forServer(MaterialSource source) {
    return new GrpcServerTls.Builder(source);
  }

  /** Starts a channel configuration that takes its material from {@code source}. */
  public static GrpcClientTls.Builder forClient(MaterialSource source) {
    return new GrpcClientTls.Builder(source);
  }

  /**
   * The key under which a server call's {@link Context} holds the caller's verified identity, set by
   * {@link GrpcServerTls#interceptor()} once the caller passed the policy.
   */
  public static Context.Key<PeerIdentity> peerKey() {
    return PeerContext.PEER;
  }

  /**
   * The verified caller of the server call running on this thread; empty outside a call, or for a
   * caller without a certificate on a server that lets such callers in.
   */
  public static Optional<PeerIdentity> peer() {
    return Optional.ofNullable(PeerContext.PEER.get());
  }
}
