package dev.kubemtls.servlet;

import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.servlet.internal.MaterialServerSslContextFactory;
import java.util.Objects;
import java.util.function.BiFunction;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A closeable handle on one mTLS server configuration for Jetty, made by
 * {@code JettyMtls.forServer(source)...build()}: the counterpart of the Netty integration's
 * {@code ServerTls}. It owns one JDK TLS context that follows the source (one context per
 * snapshot, built when the snapshot is published); every connector and factory made from the
 * handle takes each new connection's engine from it. It may be built before the source has
 * material (handshakes fail until the first snapshot). {@link #close()} ends it: connectors keep
 * their open connections, and refuse new ones.
 */
public final class JettyServerTls implements AutoCloseable {

  private final FollowingSslContextSpi spi;
  private final TlsPolicy policy;
  private final PeerPolicy peerPolicy;
  private final BiFunction<Server, SslContextFactory.Server, ServerConnector> connectors;

  JettyServerTls(FollowingSslContextSpi spi, TlsPolicy policy, PeerPolicy peerPolicy,
      BiFunction<Server, SslContextFactory.Server, ServerConnector> connectors) {
    this.spi = spi;
    this.policy = policy;
    this.peerPolicy = peerPolicy;
    this.connectors = connectors;
  }

  /** A new HTTPS connector for {@code server} with the builder's options, not yet added to it. */
  public ServerConnector newConnector(Server server) {
    Objects.requireNonNull(server, "server");
    return connectors.apply(server, newSslContextFactory());
  }

  /** A new TLS context factory on this handle's context, for connectors assembled by the caller. */
  public SslContextFactory.Server newSslContextFactory() {
    return new MaterialServerSslContextFactory(spi, policy);
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list checked in every handshake against the client's certificate. */
  public PeerPolicy peerPolicy() {
    return peerPolicy;
  }

  /** The material generation new connections get, or 0 before the first. */
  public long generation() {
    return spi.generation();
  }

  /** Stops following the source; new connections are refused, open ones finish. Closing twice is harmless. */
  @Override
  public void close() {
    spi.close();
  }
}
