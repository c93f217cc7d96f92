package dev.kubemtls.servlet;

import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.servlet.internal.MaterialClientSslContextFactory;
import java.util.function.Function;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A closeable handle on one mTLS client configuration for Jetty, made by
 * {@code JettyMtls.forClient(source)...build()}: the counterpart of the Netty integration's
 * {@code ClientTls}. It owns one JDK TLS context that follows the source; every HTTP client and
 * factory made from the handle takes each new connection's engine from it. It may be built before
 * the source has material (connections fail until the first snapshot). {@link #close()} ends it:
 * pooled connections finish, new ones fail.
 */
public final class JettyClientTls implements AutoCloseable {

  private final FollowingSslContextSpi spi;
  private final TlsPolicy policy;
  private final PeerPolicy peerPolicy;
  private final Function<SslContextFactory.Client, HttpClient> clients;

  JettyClientTls(FollowingSslContextSpi spi, TlsPolicy policy, PeerPolicy peerPolicy,
      Function<SslContextFactory.Client, HttpClient> clients) {
    this.spi = spi;
    this.policy = policy;
    this.peerPolicy = peerPolicy;
    this.clients = clients;
  }

  /** A new HTTP/1.1 client with the builder's options, not started. */
  public HttpClient newHttpClient() {
    return clients.apply(newSslContextFactory());
  }

  /** A new TLS context factory on this handle's context, for a caller's own {@code ClientConnector}. */
  public SslContextFactory.Client newSslContextFactory() {
    return new MaterialClientSslContextFactory(spi, policy);
  }

  /** The TLS policy of every connection. */
  public TlsPolicy policy() {
    return policy;
  }

  /** The allow-list checked in every handshake against the server's certificate. */
  public PeerPolicy peerPolicy() {
    return peerPolicy;
  }

  /** The material generation new connections get, or 0 before the first. */
  public long generation() {
    return spi.generation();
  }

  /** Stops following the source; new connections fail, open ones finish. Closing twice is harmless. */
  @Override
  public void close() {
    spi.close();
  }
}
