/**
 * Mutual TLS for Netty servers and clients whose identity and trust rotate at run time.
 *
 * <p>The model: a {@link dev.kubemtls.core.MaterialSource} holds one immutable snapshot of key,
 * certificate chain and trusted CAs at a time, and replaces it when a certificate is renewed or the
 * CA bundle changes. {@link dev.kubemtls.netty.ServerTls} and {@link dev.kubemtls.netty.ClientTls}
 * (built with {@link dev.kubemtls.netty.NettyMtls#forServer} and
 * {@link dev.kubemtls.netty.NettyMtls#forClient}) turn each snapshot into one Netty
 * {@link io.netty.handler.ssl.SslContext} when it is published, hand it to every connection that
 * starts while it is current, and free it when its last connection has ended. TLS 1.3 is preferred
 * and TLS 1.2 with AEAD ECDHE suites the minimum; clients check the server's name as dialled.
 *
 * <p>After the handshake the peer's {@link dev.kubemtls.core.peer.PeerIdentity} is on the channel
 * ({@link dev.kubemtls.netty.NettyMtls#peer}), checked against a
 * {@link dev.kubemtls.core.peer.PeerPolicy}. A {@link dev.kubemtls.core.tls.TlsListener} given to either
 * builder hears each connection's handshake outcome, with failures classified. Everything under
 * {@code dev.kubemtls.netty.internal} is an implementation detail and may change without notice.
 */
package dev.kubemtls.netty;
