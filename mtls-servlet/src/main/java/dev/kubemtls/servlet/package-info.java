/**
 * Mutual TLS for Jetty 12 and Jakarta Servlet 6 with certificates that rotate while the process runs.
 *
 * <p>A {@link dev.kubemtls.core.MaterialSource} holds the workload's current key, certificate
 * chain and trust bundle as one immutable snapshot. {@link dev.kubemtls.servlet.JettyMtls} binds
 * Jetty server connectors and HTTP clients to a source: each new connection takes its TLS engine
 * from the current snapshot, so renewals and CA rotations need no restart and open connections are
 * not cut. Their builders end in closeable handles ({@link dev.kubemtls.servlet.JettyServerTls},
 * {@link dev.kubemtls.servlet.JettyClientTls}) with the same options as the Netty integration.
 * {@link dev.kubemtls.servlet.MtlsPeerFilter} reads the verified client certificate of each
 * request into a {@link dev.kubemtls.core.peer.PeerIdentity} and enforces a
 * {@link dev.kubemtls.core.peer.PeerPolicy} allow-list in any Servlet 6 container.
 * {@link dev.kubemtls.core.tls.MtlsSslContexts} (in mtls-core) builds the JDK {@code SSLContext}s
 * these are made of, for other clients. A {@link dev.kubemtls.core.tls.TlsListener} given to the builders hears each
 * handshake's outcome, and one given to the filter each refused request.
 *
 * <p>Everything under {@code dev.kubemtls.servlet.internal} is an implementation detail.
 */
package dev.kubemtls.servlet;
