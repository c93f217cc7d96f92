package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import javax.net.ssl.SSLParameters;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A server {@link SslContextFactory} over a JDK context that follows a {@link MaterialSource}
 * ({@link FollowingSslContextSpi}): each new connection gets an engine from the snapshot that is
 * current, so Jetty never reloads, and the factory starts whether or not the source has material
 * yet (handshakes fail until it has). The {@link TlsPolicy} sets protocols, suites, schemes, groups
 * and client auth; a presented client certificate must pass the {@link PeerPolicy} in the handshake.
 * Not part of the public API.
 */
public final class MaterialServerSslContextFactory extends SslContextFactory.Server {

  private final FollowingSslContextSpi spi;
  private final JdkTls tls;
  private MaterialSource.Subscription subscription;

  public MaterialServerSslContextFactory(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy) {
    this(source, policy, peerPolicy, java.time.InstantSource.system());
  }

  /** @param clock what the peer's certificate validity is checked against when a handshake completes */
  public MaterialServerSslContextFactory(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy,
      java.time.InstantSource clock) {
    this(newSpi(source, new JdkTls(policy), peerPolicy, clock), policy);
  }

  /** The JDK context, shared by the factories of one {@code JettyServerTls}. */
  public static FollowingSslContextSpi newSpi(MaterialSource source, JdkTls tls, PeerPolicy peerPolicy) {
    return newSpi(source, tls, peerPolicy, java.time.InstantSource.system());
  }

  /** As {@link #newSpi(MaterialSource, JdkTls, PeerPolicy)}, with the clock handshakes are checked against. */
  public static FollowingSslContextSpi newSpi(MaterialSource source, JdkTls tls, PeerPolicy peerPolicy,
      java.time.InstantSource clock) {
    return Policies.followingContext(source, tls, peerPolicy, "server", MaterialServerSslContextFactory.class, clock);
  }

  public MaterialServerSslContextFactory(FollowingSslContextSpi spi, TlsPolicy policy) {
    this.tls = new JdkTls(policy);
    this.spi = spi;
    setSslContext(spi.newSslContext());
    Policies.apply(this, policy);
    setNeedClientAuth(policy.clientAuth() == ClientAuth.REQUIRE);
    setWantClientAuth(policy.clientAuth() != ClientAuth.REQUIRE);
    // Pods are called by IP and by short Service names: never refuse a missing or foreign SNI.
    setSniRequired(false);
    setEndpointIdentificationAlgorithm(null);
  }

  /** The generation of the material new connections get, or 0 before the first. */
  public long appliedGeneration() {
    return spi.generation();
  }

  @Override
  protected void doStart() throws Exception {
    subscription = spi.follow();
    super.doStart();
  }

  @Override
  protected void doStop() throws Exception {
    if (subscription != null) {
      subscription.close();
      subscription = null;
    }
    super.doStop();
  }

  @Override
  public SSLParameters customize(SSLParameters parameters) {
    return tls.restrict(super.customize(parameters), false);
  }
}
