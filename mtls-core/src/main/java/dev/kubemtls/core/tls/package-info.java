/**
 * TLS for every integration: one {@link dev.kubemtls.core.tls.TlsPolicy} (protocols, cipher suites,
 * signature schemes, named groups, {@link dev.kubemtls.core.tls.ClientAuth}) that Netty, Jetty and
 * any JDK client apply alike, the JDK {@code SSLContext} that follows a
 * {@link dev.kubemtls.core.MaterialSource} ({@link dev.kubemtls.core.tls.MtlsSslContexts}: each new
 * handshake reads the current snapshot, key and chain from one generation), and the
 * {@link dev.kubemtls.core.tls.TlsListener} through which the integrations report each handshake's
 * outcome, classified by what an operator should look at.
 */
package dev.kubemtls.core.tls;
