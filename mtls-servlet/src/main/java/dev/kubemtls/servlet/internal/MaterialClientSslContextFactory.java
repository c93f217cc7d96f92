package dev.kubemtls.servlet.internal;

import dev.kubemtls.core.MaterialSource;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A client {@link SslContextFactory} whose key and trust stores follow a {@link MaterialSource}
 * while it runs (see {@link MaterialBinding}), and which verifies the server's certificate against
 * the dialled host name or IP address. Not part of the public API.
 */
public final class MaterialClientSslContextFactory extends SslContextFactory.Client {

  private final MaterialBinding binding;

  public MaterialClientSslContextFactory(MaterialSource source) {
    this.binding = new MaterialBinding(this, source, "client");
    TlsDefaults.apply(this);
    setTrustAll(false);
    setEndpointIdentificationAlgorithm("HTTPS");
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
