package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A server {@link SslContextFactory} whose key and trust stores follow a {@link MaterialSource}
 * while it runs (see {@link MaterialBinding}). Not part of the public API.
 */
public final class MaterialServerSslContextFactory extends SslContextFactory.Server {

  private final MaterialBinding binding;

  public MaterialServerSslContextFactory(MaterialSource source, boolean needClientAuth) {
    this.binding = new MaterialBinding(this, source, "server");
    TlsDefaults.apply(this);
    setNeedClientAuth(needClientAuth);
    setWantClientAuth(!needClientAuth);
    // Pods are called by IP and by short Service names: never refuse a missing or foreign SNI.
    setSniRequired(false);
    setEndpointIdentificationAlgorithm(null);
  }

  /** The generation of the material loaded, or 0 when stopped. */
  public long appliedGeneration() {
    return binding.appliedGeneration();
  }

  @Override
  protected void doStart() throws Exception {
    binding.start(super::doStart);
  }

  @Override
  protected void doStop() throws Exception {
    binding.stop(super::doStop);
  }
}
