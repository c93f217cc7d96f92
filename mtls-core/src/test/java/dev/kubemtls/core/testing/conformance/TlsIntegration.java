package dev.kubemtls.core.testing.conformance;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.OutsidePeer;
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

  /**
   * What a peer that is not kube-mtls says to a server after its handshake: by default it writes
   * {@link #probe()} and reads a line. An integration whose servers speak no line protocol (gRPC
   * over HTTP/2) holds its own conversation and returns what stands for the first line.
   */
  default OutsidePeer.Result ask(OutsidePeer peer, int port) throws Exception {
    return peer.exchange(port, probe());
  }

  /**
   * Whether the server checks a verified client against its {@link PeerPolicy} per request (a
   * gRPC interceptor, a servlet or WebFlux filter) instead of in the handshake: then the suite's
   * refusal cases send a request and expect an answer other than {@link #okLine()}, with the
   * listener's {@code requestRefused} (after the handshake's success) instead of a failed handshake.
   */
  default boolean refusesPeersPerRequest() {
    return false;
  }

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
