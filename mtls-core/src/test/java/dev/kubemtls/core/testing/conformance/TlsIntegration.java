package dev.kubemtls.core.testing.conformance;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;

/**
 * What an integration gives {@link TlsConformanceSuite}: a server and a client built the way its
 * users build them, following a {@link MaterialSource} under a {@link TlsPolicy} and a
 * {@link PeerPolicy}, reporting to a {@link TlsListener}. Servers listen on 127.0.0.1 and answer
 * {@link #probe()} with a response whose first line is {@link #okLine()}.
 */
public interface TlsIntegration {

  /** For test names and messages, e.g. {@code netty OPENSSL}. */
  String name();

  /** Starts a server; its handshakes are reported to {@code listener} as {@code SERVER}. */
  Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener) throws Exception;

  /** A client whose handshakes are reported to {@code listener} as {@code CLIENT}. */
  Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener) throws Exception;

  /** What a peer that is not kube-mtls writes after the handshake, e.g. a line or an HTTP request. */
  String probe();

  /** The first line of the server's answer to {@link #probe()}. */
  String okLine();

  /** A running server. */
  interface Server extends AutoCloseable {
    int port();
  }

  /** A client of {@link Server}s on 127.0.0.1. */
  interface Client extends AutoCloseable {
    /**
     * One request to 127.0.0.1:{@code port}, on a new connection or a pooled one; returns the first
     * line of the answer.
     *
     * @throws Exception when the handshake or the request fails
     */
    String call(int port) throws Exception;
  }
}
