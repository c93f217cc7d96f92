/**
 * Mutual TLS for gRPC-java servers and channels whose identity and trust rotate at run time.
 *
 * <p>The model: a {@link dev.kubemtls.core.MaterialSource} holds one immutable snapshot of key,
 * certificate chain and trusted CAs at a time. {@link dev.kubemtls.grpc.GrpcServerTls} and
 * {@link dev.kubemtls.grpc.GrpcClientTls} (from {@link dev.kubemtls.grpc.GrpcMtls#forServer} and
 * {@link dev.kubemtls.grpc.GrpcMtls#forClient}) turn each snapshot into one Netty TLS context when it
 * is published and give it, through grpc-netty credentials, to every connection that starts while
 * it is current. On the server, an interceptor puts the caller's
 * {@link dev.kubemtls.core.peer.PeerIdentity} into the gRPC Context and applies a
 * {@link dev.kubemtls.core.peer.PeerPolicy}. Everything under {@code dev.kubemtls.grpc.internal} is an
 * implementation detail.
 */
package dev.kubemtls.grpc;
