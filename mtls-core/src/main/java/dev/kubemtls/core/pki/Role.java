package dev.kubemtls.core.pki;

/**
 * Which side of mutual TLS a workload's certificate is for. It decides the key usages requested in
 * the CertificateSigningRequest and the extended key usages the issued certificate must carry.
 */
public enum Role {
  /** Accepts connections: {@code server auth}. */
  SERVER(true, false),
  /** Makes connections: {@code client auth}. */
  CLIENT(false, true),
  /** Both: {@code server auth} and {@code client auth}. */
  BOTH(true, true);

  private final boolean server;
  private final boolean client;

  Role(boolean server, boolean client) {
    this.server = server;
    this.client = client;
  }

  /** Whether the certificate must be usable by a TLS server. */
  public boolean server() {
    return server;
  }

  /** Whether the certificate must be usable by a TLS client. */
  public boolean client() {
    return client;
  }
}
