package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.internal.FollowingSslContextSpi;
import dev.kubemtls.core.internal.JdkTls;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsPolicy;
import javax.net.ssl.SSLParameters;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A client {@link SslContextFactory} over a JDK context that follows a {@link MaterialSource}
 * (see {@link MaterialServerSslContextFactory}); it verifies the server's certificate against the
 * dialled host name or IP address and the {@link PeerPolicy}. Not part of the public API.
 */
public final class MaterialClientSslContextFactory extends SslContextFactory.Client {

  private final FollowingSslContextSpi spi;
  private final JdkTls tls;
  private MaterialSource.Subscription subscription;

  public MaterialClientSslContextFactory(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy) {
    this(source, policy, peerPolicy, java.time.InstantSource.system());
  }

  /** @param clock what the peer's certificate validity is checked against when a handshake completes */
  public MaterialClientSslContextFactory(MaterialSource source, TlsPolicy policy, PeerPolicy peerPolicy,
      java.time.InstantSource clock) {
    this(newSpi(source, new JdkTls(policy), peerPolicy, clock), policy);
  }

  /** The JDK context, shared by the factories of one {@code JettyClientTls}. */
  public static FollowingSslContextSpi newSpi(MaterialSource source, JdkTls tls, PeerPolicy peerPolicy) {
    return newSpi(source, tls, peerPolicy, java.time.InstantSource.system());
  }

  /** As {@link #newSpi(MaterialSource, JdkTls, PeerPolicy)}, with the clock handshakes are checked against. */
  public static FollowingSslContextSpi newSpi(MaterialSource source, JdkTls tls, PeerPolicy peerPolicy,
      java.time.InstantSource clock) {
    return Policies.followingContext(source, tls, peerPolicy, "client", MaterialClientSslContextFactory.class, clock);
  }

  public MaterialClientSslContextFactory(FollowingSslContextSpi spi, TlsPolicy policy) {
    this.tls = new JdkTls(policy);
    this.spi = spi;
    setSslContext(spi.newSslContext());
    Policies.apply(this, policy);
    setTrustAll(false);
    setEndpointIdentificationAlgorithm("HTTPS");
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
    return tls.restrict(super.customize(parameters), true);
  }
}
